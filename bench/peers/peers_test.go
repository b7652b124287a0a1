package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"
	"github.com/jackc/pgx/v5"
)

const pgBase = "postgres://postgres@127.0.0.1:5432/"

// startPeer serves kind on a free port until the test ends, and returns its URL.
func startPeer(t *testing.T, kind, dsn string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, kind, dsn, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve %s: %v", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve %s did not stop", kind)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string, cookie *http.Cookie) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func checkHealthz(t *testing.T, base string) {
	t.Helper()
	code, h, body := get(t, base+"/healthz", nil)
	if code != 200 || h.Get("Content-Type") != "application/json" || string(body) != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %q %s", code, h.Get("Content-Type"), body)
	}
}

func TestBare(t *testing.T) {
	checkHealthz(t, startPeer(t, "bare", ""))
}

// pgDSN returns the URL of database name, creating it when missing.
func pgDSN(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgBase+"postgres?sslmode=disable")
	if err != nil {
		t.Fatalf("PostgreSQL is needed: %v", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	return pgBase + name + "?sslmode=disable"
}

func TestPeers(t *testing.T) {
	for _, kind := range []string{"scs", "fiber"} {
		cookie := map[string]string{"scs": "session", "fiber": "session_id"}[kind]
		for _, db := range []string{"sqlite", "postgres"} {
			t.Run(kind+"/"+db, func(t *testing.T) {
				dsn := "sqlite:" + filepath.Join(t.TempDir(), "peer.db")
				if db == "postgres" {
					dsn = pgDSN(t, "sessiond_bench_"+kind)
				}
				o := seedOpts{kind: kind, dsn: dsn, sessions: 50, live: 40, users: 7}
				rows, live, err := makeRows(o)
				if err != nil {
					t.Fatal(err)
				}
				if len(live) != 40 {
					t.Fatalf("%d live tokens, want 40", len(live))
				}
				// Twice: the second run must empty the table the first filled.
				for range 2 {
					if err := storeRows(context.Background(), kind, dsn, rows); err != nil {
						t.Fatal(err)
					}
				}
				base := startPeer(t, kind, dsn)
				checkHealthz(t, base)

				for _, i := range []int{0, 13, 39} {
					code, _, body := get(t, base+"/api/me", &http.Cookie{Name: cookie, Value: rows[i].token})
					var me meBody
					if err := json.Unmarshal(body, &me); code != 200 || err != nil {
						t.Fatalf("live token %d: %d %s", i, code, body)
					}
					n := int64(i%7 + 1)
					want := user{ID: n, Name: "User " + strconv.FormatInt(n, 10), Email: "user" + strconv.FormatInt(n, 10) + "@example.com", Role: "user"}
					if me.User != want {
						t.Errorf("live token %d: %+v, want %+v", i, me.User, want)
					}
				}
				for name, c := range map[string]*http.Cookie{
					"expired":   {Name: cookie, Value: rows[45].token},
					"no cookie": nil,
					"unknown":   {Name: cookie, Value: "nope"},
				} {
					code, _, body := get(t, base+"/api/me", c)
					if code != 401 || string(body) != `{"error":"unauthenticated"}` {
						t.Errorf("%s: %d %s", name, code, body)
					}
				}
			})
		}
	}
}

// captureStorage keeps what fiber's session middleware stores.
type captureStorage struct{ data map[string][]byte }

func (s *captureStorage) Get(k string) ([]byte, error)                  { return s.data[k], nil }
func (s *captureStorage) Set(k string, v []byte, _ time.Duration) error { s.data[k] = v; return nil }
func (s *captureStorage) Delete(k string) error                         { delete(s.data, k); return nil }
func (s *captureStorage) Reset() error                                  { clear(s.data); return nil }
func (s *captureStorage) Close() error                                  { return nil }

// TestFiberEncoding compares fiberEncode with the bytes the middleware's own
// Save stores: equal bytes for a one-key map (gob writes a map in Go's random
// order, so bigger maps differ in order only), equal data once decoded.
func TestFiberEncoding(t *testing.T) {
	values := map[string]interface{}{"userID": int64(3), "name": "User 3", "email": "user3@example.com", "role": "user"}
	for _, vals := range []map[string]interface{}{{"userID": int64(3)}, values} {
		st := &captureStorage{data: map[string][]byte{}}
		store := session.New(session.Config{Storage: st})
		app := fiber.New()
		app.Get("/", func(c *fiber.Ctx) error {
			sess, err := store.Get(c)
			if err != nil {
				return err
			}
			for k, v := range vals {
				sess.Set(k, v)
			}
			return sess.Save()
		})
		if _, err := app.Test(httptest.NewRequest("GET", "/", nil)); err != nil {
			t.Fatal(err)
		}
		if len(st.data) != 1 {
			t.Fatalf("middleware stored %d sessions", len(st.data))
		}
		var saved []byte
		for _, v := range st.data {
			saved = v
		}
		mine, err := fiberEncode(vals)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) == 1 && !bytes.Equal(saved, mine) {
			t.Errorf("bytes differ:\nfiber %x\nmine  %x", saved, mine)
		}
		var got map[string]interface{}
		if err := gob.NewDecoder(bytes.NewReader(mine)).Decode(&got); err != nil || !reflect.DeepEqual(got, vals) {
			t.Errorf("decoded %v (%v), want %v", got, err, vals)
		}
		if len(saved) != len(mine) {
			t.Errorf("lengths differ: fiber %d, mine %d", len(saved), len(mine))
		}
	}
}

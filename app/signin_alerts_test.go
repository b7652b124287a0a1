package app

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"sessiond/models"
	"sessiond/models/testdb"
)

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	chromeMac    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	berlinIP     = "203.0.113.7"
	parisIP      = "198.51.100.9"
)

// writeCityDB writes a small GeoLite2-City-shaped database with
// maxmind/mmdbwriter: Berlin and Paris documentation networks.
func writeCityDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, place := range map[string][2]string{"203.0.113.0/24": {"DE", "Berlin"}, "198.51.100.0/24": {"FR", "Paris"}, "1.1.1.0/24": {"AU", "Sydney"}} {
		_, network, _ := net.ParseCIDR(cidr)
		rec := mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(place[0])},
			"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(place[1])}},
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// loginFrom signs in through the form as a browser with agent ua behind a
// trusted proxy that reports ip.
func loginFrom(t *testing.T, c *client, email, ua, ip string) {
	t.Helper()
	c.page("/login")
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "User-Agent": {ua}, "X-Forwarded-For": {ip}}
	v := url.Values{"email": {email}, "password": {"password123"}, "_csrf": {c.csrf}}
	resp := c.request("POST", "/login", strings.NewReader(v.Encode()), h)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login from %s: %d %s", ip, resp.StatusCode, readBody(t, resp))
	}
	c.page("/")
}

func geoEnv(t *testing.T, extra map[string]string) map[string]string {
	env := map[string]string{"GEOIP_DB": writeCityDB(t), "TRUSTED_PROXIES": "0.0.0.0,127.0.0.1"}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func TestGeolocation_SessionRecordsCountryAndCity_ShownToUserAdminAndAudit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		a := newTestApp(t, db, geoEnv(t, nil))
		admin := testdb.CreateUser(t, db, "geo-admin@example.test", "admin")
		c := a.client()
		loginFrom(t, c, admin.Email, firefoxLinux, berlinIP)
		var sess models.Session
		if err := db.NewSelect().Model(&sess).Where("user_id = ?", admin.ID).Scan(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sess.Country != "DE" || sess.City != "Berlin" || sess.IP != berlinIP {
			t.Fatalf("session at %q %q from %q, want Berlin, DE from %s", sess.City, sess.Country, sess.IP, berlinIP)
		}
		if _, body := c.page("/account/sessions"); !strings.Contains(body, "Berlin, DE") {
			t.Fatal("Your sessions does not show the location")
		}
		if _, body := c.page("/admin/sessions"); !strings.Contains(body, "Berlin, DE") {
			t.Fatal("the admin console does not show the location")
		}
		resp := c.request("GET", "/admin/sessions", nil, http.Header{"Accept": {"application/json"}})
		if body := readBody(t, resp); !strings.Contains(body, `"country":"DE"`) {
			t.Fatalf("admin JSON has no country: %s", body)
		}
		if _, body := c.page("/admin/insights"); !strings.Contains(body, `<td>DE</td><td class="num">1</td>`) {
			t.Fatal("insights show no sessions by country")
		}
		if n := countRows(t, db, "session_events", "kind = ? AND detail LIKE ?", models.EventSessionCreated, "%country=DE%"); n != 1 {
			t.Fatalf("%d audit events with the country", n)
		}
	})
}

func TestGeolocation_BrokenFile_ServerRunsAndDoctorSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.mmdb")
	if err := os.WriteFile(path, []byte("this is not a MaxMind database"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := testdb.SQLite(t)
	a := newTestApp(t, db, map[string]string{"GEOIP_DB": path})
	if !strings.Contains(a.logs.String(), "geolocation off") {
		t.Fatal("no error logged at start for a broken GEOIP_DB")
	}
	testdb.CreateUser(t, db, "still@example.test", "user")
	a.client().login("still@example.test", "password123")
	out, err := runCLI(t, map[string]string{"DATABASE_URL": db.URL(), "GEOIP_DB": path}, "", "doctor")
	if err == nil || !strings.Contains(out, "GEOIP_DB") {
		t.Fatalf("doctor: %v %s", err, out)
	}
}

func TestSignInAlert_NewDeviceAndCountry_MailedOverSMTP_NotMeEndsThatSession_OptOutStopsThem(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *models.DB) {
		box := newMailbox(t)
		a, _ := liveServer(t, db, geoEnv(t, mailEnv(box)), box.clientTLS)
		u := testdb.CreateUser(t, db, "watchful@example.test", "user")
		home := a.client()
		loginFrom(t, home, u.Email, firefoxLinux, berlinIP) // the first sign-in: nothing to compare with
		loginFrom(t, a.client(), u.Email, firefoxLinux, berlinIP)
		if n := countRows(t, db, "deliveries", ""); n != 0 {
			t.Fatalf("%d alerts for known sign-ins", n)
		}

		thief := a.client()
		loginFrom(t, thief, u.Email, chromeMac, parisIP)
		m := parseMail(t, box.wait(1)[0].Raw)
		for _, want := range []string{"a device and a country", "Chrome 126 on macOS", parisIP, "Paris, FR"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("the alert does not say %q:\n%s", want, m.Text)
			}
		}
		if n := countRows(t, db, "session_events", "kind = ? AND detail = ?", eventSignInUnusual, "flags=new-device,new-country"); n != 1 {
			t.Fatalf("%d unusual sign-in events", n)
		}
		link := m.link(t)
		resp, body := home.page(pathOf(t, link))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "End that session") {
			t.Fatalf("not-me page: %d", resp.StatusCode)
		}
		token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
		if resp := home.form("/account/not-me", url.Values{"token": {token.Get("token")}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("not me: %d", resp.StatusCode)
		}
		if thief.signedIn() {
			t.Fatal("the session the alert was about still works")
		}
		if !home.signedIn() {
			t.Fatal("the user's own session ended too")
		}
		if resp := home.form("/account/not-me", url.Values{"token": {token.Get("token")}}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("the link worked twice: %d", resp.StatusCode)
		}

		home.page("/account/alerts")
		if resp := home.form("/account/alerts", url.Values{"alerts": {"off"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("alerts off: %d", resp.StatusCode)
		}
		loginFrom(t, a.client(), u.Email, chromeMac, "1.1.1.1")
		if n := countRows(t, db, "session_events", "kind = ?", eventSignInUnusual); n != 2 {
			t.Fatalf("%d unusual sign-ins marked, want 2 (alerts off still marks the audit trail)", n)
		}
		if n := countRows(t, db, "deliveries", ""); n != 1 {
			t.Fatalf("%d alerts queued after opting out, want still 1", n)
		}
	})
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
)

// serveSCS is net/http with alexedwards/scs: LoadAndSave around /api/me,
// which only reads, so no request writes to the store.
func serveSCS(ctx context.Context, dsn string, ln net.Listener) error {
	sm := scs.New()
	sm.Cookie.Name = "session"
	// Cleanup interval 0: no background DELETE during a measurement.
	if path, ok := sqlitePath(dsn); ok {
		db, err := openSQLite(path)
		if err != nil {
			return err
		}
		defer db.Close()
		sm.Store = sqlite3store.NewWithCleanupInterval(db, 0)
	} else if isPostgres(dsn) {
		pool, err := openPostgres(ctx, dsn)
		if err != nil {
			return err
		}
		defer pool.Close()
		sm.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	} else {
		return badDSN(dsn)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(healthzBody)
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		id, ok := sm.Get(r.Context(), "userID").(int64)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, unauthenticated)
			return
		}
		writeJSON(w, http.StatusOK, meBody{User: user{
			ID:    id,
			Name:  sm.GetString(r.Context(), "name"),
			Email: sm.GetString(r.Context(), "email"),
			Role:  sm.GetString(r.Context(), "role"),
		}})
	})

	srv := &http.Server{Handler: sm.LoadAndSave(mux)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		if err := srv.Shutdown(context.Background()); err != nil {
			return err
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// Package bench is the load benchmark of the real binary on SQLite and
// PostgreSQL; `task bench` runs it (SESSIOND_BENCH=1) and prints its table.
package bench

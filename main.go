// Command sessiond serves database-backed login sessions and an admin
// console for them; see README.md.
package main

import (
	"fmt"
	"os"

	"sessiond/app"
)

func main() {
	ctx, env, stop := app.WithSignals(app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	defer stop()
	if err := app.Run(ctx, os.Args[1:], env); err != nil {
		fmt.Fprintln(os.Stderr, "sessiond:", err)
		os.Exit(1)
	}
}

package main

import (
	"debug/elf"
	"debug/macho"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

// Taskfile.yml is run by no other test: this one makes sure it parses and
// has every task the README names, each with a description and commands
// that are commands (not a map YAML made of a line with ': ' in it).
func TestTaskfile_ParsesAndHasTheTasksTheREADMENames(t *testing.T) {
	raw, err := os.ReadFile("Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Version string
		Tasks   map[string]struct {
			Desc string
			Cmds []any
		}
	}
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("Taskfile.yml: %v", err)
	}
	if tf.Version != "3" {
		t.Errorf("version %q, want 3", tf.Version)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`task ([a-z][a-z:]*)`").FindAllStringSubmatch(string(readme), -1)
	if len(named) < 5 {
		t.Fatalf("README names %d tasks, want the everyday ones", len(named))
	}
	for _, m := range named {
		name := m[1]
		task, ok := tf.Tasks[name]
		if !ok {
			t.Errorf("README names `task %s`, which Taskfile.yml lacks", name)
			continue
		}
		if task.Desc == "" || len(task.Cmds) == 0 {
			t.Errorf("task %q: no description or no commands", name)
		}
		for i, c := range task.Cmds {
			if !isTaskCommand(c) {
				t.Errorf("task %q command %d is %v, neither a string nor a cmd/task entry: did a ': ' in it make YAML read a map?", name, i, c)
			}
		}
	}
}

// isTaskCommand: a command of a Taskfile is a string, or a map with a cmd
// (a command with options) or a task (another task) key.
func isTaskCommand(c any) bool {
	switch c := c.(type) {
	case string:
		return true
	case map[any]any:
		_, cmd := c["cmd"]
		_, task := c["task"]
		return cmd || task
	}
	return false
}

// task release, run as the Taskfile says (its script, with the version,
// the targets and the output directory filled in as task would): every
// target builds, each binary is static for its platform, and the one
// for this machine says the stamped version.
func TestTaskfile_Release_CrossCompilesStaticBinariesWithTheVersionStamped(t *testing.T) {
	raw, err := os.ReadFile("Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Tasks map[string]struct {
			Vars map[string]any
			Env  map[string]string
			Cmds []string
		}
	}
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		t.Fatal(err)
	}
	rel, ok := tf.Tasks["release"]
	if !ok || len(rel.Cmds) != 1 {
		t.Fatal("Taskfile.yml has no release task with one script")
	}
	targets, _ := rel.Vars["TARGETS"].(string)
	if targets != "linux/amd64 linux/arm64 darwin/arm64" {
		t.Fatalf("release TARGETS %q, want linux/amd64 linux/arm64 darwin/arm64", targets)
	}
	if rel.Env["CGO_ENABLED"] != "0" {
		t.Fatal("release does not set CGO_ENABLED=0: the binaries would not be static")
	}
	// A cross build compiles every package anew for its platform: minutes
	// each on two cores. CI (SESSIOND_RELEASE_ALL=1) builds every target;
	// elsewhere this machine's target proves the script and the stamp.
	host := runtime.GOOS + "/" + runtime.GOARCH
	if os.Getenv("SESSIOND_RELEASE_ALL") != "1" {
		t.Logf("building %s only; SESSIOND_RELEASE_ALL=1 builds %s", host, targets)
		targets = host
	}
	dist, version := t.TempDir(), "v9.8.7-test"
	script := strings.NewReplacer("{{.TARGETS}}", targets, "{{.VERSION}}", version, "{{.DIST}}", dist).Replace(rel.Cmds[0])
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	for _, target := range strings.Fields(targets) {
		goos, arch, _ := strings.Cut(target, "/")
		bin := filepath.Join(dist, "sessiond-"+version+"-"+goos+"-"+arch)
		switch goos {
		case "linux":
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("%s: dynamically linked (%v)", target, p.Type)
				}
			}
			if f.Machine != want {
				t.Errorf("%s: machine %v, want %v", target, f.Machine, want)
			}
			f.Close()
		case "darwin":
			f, err := macho.Open(bin)
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			if f.Cpu != macho.CpuArm64 {
				t.Errorf("%s: cpu %v, want arm64", target, f.Cpu)
			}
			f.Close()
		}
		if target == host {
			out, err := exec.Command(bin, "version").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "sessiond "+version {
				t.Errorf("%s version: %v %q, want \"sessiond %s\"", bin, err, out, version)
			}
		}
	}
}

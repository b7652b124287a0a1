package main

import (
	"os"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v2"
)

// Taskfile.yml is run by no other test: this one makes sure it parses and
// has every task the README names, each with a description and commands
// that are plain strings.
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
			if _, ok := c.(string); !ok {
				t.Errorf("task %q command %d is %T, not a string: a ': ' in it made YAML read a map", name, i, c)
			}
		}
	}
}

package main

import (
	"os"
	"regexp"
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

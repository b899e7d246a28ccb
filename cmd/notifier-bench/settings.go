package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/notifier/notifier/configs"
	"github.com/notifier/notifier/platform/config"
)

// smtpConnsKey finds where the notifier's configuration sets the number of
// SMTP connections of the bulk lane, from the defaults built into this
// tree (the binary under test is built from the same tree):
// delivery.connections.bulk when the lane's workers share connections,
// else delivery.workers.bulk (each worker with its own connection) when the
// workers are per lane, delivery.workers when there is one number, and ""
// when the notifier has no such setting.
func smtpConnsKey(defaultYAML []byte) ([]string, error) {
	var root map[string]any
	if err := yaml.Unmarshal(defaultYAML, &root); err != nil {
		return nil, fmt.Errorf("default.yaml: %w", err)
	}
	delivery, _ := root["delivery"].(map[string]any)
	if conns, ok := delivery["connections"].(map[string]any); ok {
		if _, ok := conns["bulk"]; ok {
			return []string{"delivery", "connections", "bulk"}, nil
		}
	}
	switch workers := delivery["workers"].(type) {
	case map[string]any:
		if _, ok := workers["bulk"]; ok {
			return []string{"delivery", "workers", "bulk"}, nil
		}
	case int:
		return []string{"delivery", "workers"}, nil
	}
	return nil, nil
}

// overlayYAML returns a configuration file that sets the value at key; for
// delivery.connections.bulk it also raises delivery.workers.bulk to value
// when the defaults have fewer workers (the notifier opens no more
// connections than workers).
func overlayYAML(defaultYAML []byte, key []string, value int) ([]byte, error) {
	root := map[string]any{}
	set := func(key []string, v int) {
		m := root
		for _, k := range key[:len(key)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[key[len(key)-1]] = v
	}
	set(key, value)
	if keyName(key) == "delivery.connections.bulk" {
		var defaults struct {
			Delivery struct {
				Workers map[string]int `yaml:"workers"`
			} `yaml:"delivery"`
		}
		if err := yaml.Unmarshal(defaultYAML, &defaults); err != nil {
			return nil, fmt.Errorf("default.yaml: %w", err)
		}
		if defaults.Delivery.Workers["bulk"] < value {
			set([]string{"delivery", "workers", "bulk"}, value)
		}
	}
	return yaml.Marshal(root)
}

// deliverySettings loads the configuration the notifier will load with env
// (through this tree's platform/config) and returns its delivery section
// flattened ("workers.bulk=10"), sorted, to show what the run used.
func deliverySettings(env map[string]string) ([]string, error) {
	cfg, err := config.LoadUnvalidated(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	raw, err := yaml.Marshal(cfg.Delivery)
	if err != nil {
		return nil, err
	}
	var section map[string]any
	if err := yaml.Unmarshal(raw, &section); err != nil {
		return nil, err
	}
	var out []string
	flatten("", section, &out)
	slices.Sort(out)
	return out, nil
}

func flatten(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok {
		*out = append(*out, fmt.Sprintf("%s=%v", prefix, v))
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		flatten(name, m[k], out)
	}
}

// binaryAccepts reports whether binary loads the configuration file at
// path: "notifier migrate" loads it before it needs a database, and names
// the file when it refuses it (an unknown key, for a binary built before
// the key existed). It is given a well-formed database URL on a port
// nothing listens on: a binary that judges its configuration first refuses
// a missing one as a configuration problem too, and the connection that
// follows an accepted file is refused at once.
func binaryAccepts(binary, path string) (bool, string) {
	cmd := exec.Command(binary, "migrate")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFIER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NOTIFIER_CONFIG="+path,
		"NOTIFIER_DATABASE_URL=postgres://notifier-bench@127.0.0.1:1/none?connect_timeout=2")
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), "configuration:") {
		return false, strings.TrimSpace(string(out))
	}
	return true, ""
}

// defaultConfigYAML is the notifier's built-in configuration.
func defaultConfigYAML() ([]byte, error) {
	return configs.FS.ReadFile("default.yaml")
}

// keyName joins a key path with dots.
func keyName(key []string) string { return strings.Join(key, ".") }

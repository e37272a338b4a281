package main

// The service's configuration: one JSON file named by --config. Secrets live in it
// (or in a file it names), never on the command line, where any process could read
// them from /proc/<pid>/cmdline. Defaults are Kask's production settings; each check
// is a small named function, so a bad file is refused with the key that is wrong.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type Config struct {
	ListenAddress string          `json:"listen_address"`
	ListenPort    int             `json:"listen_port"`
	DefaultTTL    int             `json:"default_ttl"`
	Cassandra     CassandraConfig `json:"cassandra"`
	// LabFault reproduces a driver-side failure inside the real driver: "stale-pool"
	// (see storage.go). Empty in anything that models production.
	LabFault string `json:"lab_fault"`
}

type CassandraConfig struct {
	Hosts               []string       `json:"hosts"`
	Port                int            `json:"port"`
	LocalDC             string         `json:"local_dc"`
	Keyspace            string         `json:"keyspace"`
	Table               string         `json:"table"`
	ConnectionsPerHost  int            `json:"connections_per_host"`
	QueryTimeoutMs      int            `json:"query_timeout_ms"`
	ReconnectIntervalMs int            `json:"reconnect_interval_ms"`
	Authentication      Authentication `json:"authentication"`
	TLS                 *TLSConfig     `json:"tls"`
}

type Authentication struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// PasswordFile, when set, is read instead of Password (a mounted Secret).
	PasswordFile string `json:"password_file"`
}

// TLSConfig: the client presents a certificate; host verification is off, as
// production runs it (IP connections, hostname certificates).
type TLSConfig struct {
	CAPath   string `json:"ca_path"`
	CertPath string `json:"cert_path"`
	KeyPath  string `json:"key_path"`
}

// defaultConfig holds Kask's production settings (its chart, and gocql's defaults that
// Kask keeps: 2 connections per host, a down host retried every 60 s).
func defaultConfig() Config {
	return Config{
		ListenAddress: "127.0.0.1",
		ListenPort:    8080,
		DefaultTTL:    86400,
		Cassandra: CassandraConfig{
			Hosts:               []string{"127.0.0.1"},
			Port:                9042,
			LocalDC:             "datacenter1",
			Keyspace:            "sessions",
			Table:               "values",
			ConnectionsPerHost:  2,
			QueryTimeoutMs:      12000,
			ReconnectIntervalMs: 60000,
		},
	}
}

func loadConfig(path string) (Config, error) {
	config := defaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return config, fmt.Errorf("cannot read the config file: %w", err)
	}
	decoder := json.NewDecoder(strings.NewReader(string(data)))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&config); err != nil {
		return config, fmt.Errorf("%s: %w", path, err)
	}
	if config.Cassandra.Authentication.PasswordFile != "" {
		secret, err := os.ReadFile(config.Cassandra.Authentication.PasswordFile)
		if err != nil {
			return config, fmt.Errorf("cassandra.authentication.password_file: %w", err)
		}
		config.Cassandra.Authentication.Password = strings.TrimRight(string(secret), "\r\n")
	}
	for _, check := range []func(Config) error{validPort, validTTL, validCassandra, validFault} {
		if err := check(config); err != nil {
			return config, fmt.Errorf("%s: %w", path, err)
		}
	}
	return config, nil
}

func validPort(c Config) error {
	if c.ListenPort < 1 || c.ListenPort > 65535 {
		return fmt.Errorf("listen_port must be 1-65535, got %d", c.ListenPort)
	}
	return nil
}

func validTTL(c Config) error {
	if c.DefaultTTL < 1 {
		return fmt.Errorf("default_ttl must be positive seconds, got %d", c.DefaultTTL)
	}
	return nil
}

func validCassandra(c Config) error {
	switch {
	case len(c.Cassandra.Hosts) == 0:
		return fmt.Errorf("cassandra.hosts must name at least one node")
	case c.Cassandra.LocalDC == "":
		return fmt.Errorf("cassandra.local_dc must name the local data center")
	case c.Cassandra.ConnectionsPerHost < 1:
		return fmt.Errorf("cassandra.connections_per_host must be at least 1")
	case c.Cassandra.QueryTimeoutMs < 1:
		return fmt.Errorf("cassandra.query_timeout_ms must be positive")
	case c.Cassandra.ReconnectIntervalMs < 0:
		return fmt.Errorf("cassandra.reconnect_interval_ms must not be negative")
	}
	return nil
}

func validFault(c Config) error {
	if c.LabFault != "" && c.LabFault != "stale-pool" {
		return fmt.Errorf("lab_fault must be empty or \"stale-pool\", got %q", c.LabFault)
	}
	return nil
}

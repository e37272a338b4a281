package main

// Storage through the real driver production runs: gocql 1.3.2 from Debian, set up as
// Kask sets it up. Reads and writes at LOCAL_QUORUM, deletes at EACH_QUORUM; DC-aware
// round robin over the local data center's coordinators (not token-aware); no retry
// policy, so the coordinator's error reaches the client; 2 connections per host; a
// 12 s query timeout; down hosts retried every ReconnectInterval (60 s). Everything
// else, including how the driver marks hosts down and takes them back, is gocql's own.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

var errNotFound = errors.New("not found")

type Storage struct {
	session *gocql.Session
	table   string
	ttl     int
}

func openStorage(c Config, log *Logger) (*Storage, error) {
	cluster := gocql.NewCluster(c.Cassandra.Hosts...)
	cluster.Port = c.Cassandra.Port
	cluster.Keyspace = c.Cassandra.Keyspace
	cluster.NumConns = c.Cassandra.ConnectionsPerHost
	cluster.Timeout = time.Duration(c.Cassandra.QueryTimeoutMs) * time.Millisecond
	cluster.ReconnectInterval = time.Duration(c.Cassandra.ReconnectIntervalMs) * time.Millisecond
	cluster.PoolConfig.HostSelectionPolicy = gocql.DCAwareRoundRobinPolicy(c.Cassandra.LocalDC)
	cluster.Consistency = gocql.LocalQuorum
	cluster.Logger = driverLog{log}
	if a := c.Cassandra.Authentication; a.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: a.Username, Password: a.Password}
	}
	if t := c.Cassandra.TLS; t != nil {
		// As Kask: no tls.Config of its own and host verification off, which gocql turns
		// into InsecureSkipVerify (the CA is loaded but the chain is not checked either).
		cluster.SslOpts = &gocql.SslOptions{
			CaPath:                 t.CAPath,
			CertPath:               t.CertPath,
			KeyPath:                t.KeyPath,
			EnableHostVerification: false,
		}
	}
	var forget *forgetfulPool
	if c.LabFault == "stale-pool" {
		forget = newForgetfulPool(cluster.ConnectTimeout, log)
		cluster.HostFilter = forget
		cluster.Dialer = forget
	}
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("cannot connect to Cassandra: %w", err)
	}
	if forget != nil {
		forget.arm()
	}
	return &Storage{session: session, table: c.Cassandra.Table, ttl: c.DefaultTTL}, nil
}

func (s *Storage) Get(ctx context.Context, key string) ([]byte, error) {
	var value []byte
	err := s.session.Query(fmt.Sprintf("SELECT value FROM %q WHERE key = ?", s.table), key).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Scan(&value)
	if errors.Is(err, gocql.ErrNotFound) {
		return nil, errNotFound
	}
	return value, err
}

func (s *Storage) Set(ctx context.Context, key string, value []byte) error {
	return s.session.Query(fmt.Sprintf("INSERT INTO %q (key, value) VALUES (?, ?) USING TTL ?", s.table), key, value, s.ttl).
		WithContext(ctx).Consistency(gocql.LocalQuorum).Exec()
}

func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.session.Query(fmt.Sprintf("DELETE FROM %q WHERE key = ?", s.table), key).
		WithContext(ctx).Consistency(gocql.EachQuorum).Exec()
}

// forgetfulPool models the 2022 driver bug (gocql #1582 and #1678: a node restarted in
// a rolling restart is never reconnected) inside the real driver. gocql calls the host
// filter from handleNodeDown with the host already marked down, whichever way it
// learned it (a DOWN event, or a pool whose connections failed and could not refill).
// From then on the dialer refuses that address, so no path of gocql's own, neither the
// UP event nor the reconnect ticker, can ever connect to it again: the pool holds no
// connection to a node that is healthy, until the process restarts, as in 2022.
// Everything else, including the control connection to other nodes, is untouched.
// It forgets only once the session is up (arm): the bug is about nodes lost while the
// service runs, and a node whose first connection timed out on a busy machine is taken
// back at gocql's reconnect interval, as the driver does.
type forgetfulPool struct {
	mu        sync.Mutex
	armed     bool
	forgotten map[string]bool
	dialer    net.Dialer
	log       *Logger
}

func newForgetfulPool(timeout time.Duration, log *Logger) *forgetfulPool {
	return &forgetfulPool{forgotten: map[string]bool{}, dialer: net.Dialer{Timeout: timeout}, log: log}
}

// Accept admits every host (the pool is emptied as gocql always empties it); it only
// remembers the ones it is told are down.
func (f *forgetfulPool) Accept(host *gocql.HostInfo) bool {
	if host.State() == gocql.NodeDown {
		address := host.ConnectAddress().String()
		f.mu.Lock()
		if !f.armed {
			f.mu.Unlock()
			return true
		}
		first := !f.forgotten[address]
		f.forgotten[address] = true
		f.mu.Unlock()
		if first {
			f.log.Write("WARNING", fmt.Sprintf("Host %s is down; it will not be connected to again (lab fault stale-pool)", address), nil)
		}
	}
	return true
}

// arm starts forgetting: from now on, a host seen down is never dialled again.
func (f *forgetfulPool) arm() {
	f.mu.Lock()
	f.armed = true
	f.mu.Unlock()
}

func (f *forgetfulPool) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	refused := f.forgotten[host]
	f.mu.Unlock()
	if refused {
		return nil, fmt.Errorf("lab fault stale-pool: %s was seen down and is never reconnected", host)
	}
	return f.dialer.DialContext(ctx, network, address)
}

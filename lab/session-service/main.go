// A session service of the lab's own, in Go, on the real gocql (lab code, not product).
// It serves Kask's API over the lab's Cassandra cluster and meets Cassandra's failures
// the way Kask does, because it runs the same driver, configured the same way.
//
//	session-service --config service.json
//
// Wiring only: config -> storage -> HTTP. SIGTERM ends it at once, as it ends Kask.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	configPath := flag.String("config", "", "the service's JSON config file (secrets included; never on the command line)")
	flag.Parse()
	log := newLogger()
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "usage: session-service --config <file>")
		os.Exit(2)
	}
	config, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "session-service: "+err.Error())
		os.Exit(2)
	}
	storage, err := openStorage(config, log)
	if err != nil {
		log.Write("ERROR", err.Error(), nil)
		os.Exit(1)
	}
	address := net.JoinHostPort(config.ListenAddress, strconv.Itoa(config.ListenPort))
	server := &http.Server{Addr: address, Handler: newAPI(storage, log), ReadHeaderTimeout: 10 * time.Second}

	// No handler for SIGTERM: its default action ends the process at once, as it ends Kask,
	// which never closes its gocql session either. (gocql 1.3.2's Session.Close can deadlock
	// while its control connection reconnects: Close holds sessionStateMu and waits on
	// controlConn.quit, and the reconnect's setupConn waits on that lock in initialized().)
	go exitWithParent()

	log.Write("INFO", "listening on "+address, map[string]string{"fault": faultName(config)})
	log.Write("ERROR", server.ListenAndServe().Error(), nil)
	os.Exit(1)
}

// exitWithParent stops the service when its supervisor dies (a killed test), rather
// than leave it on its port.
func exitWithParent() {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}

func faultName(c Config) string {
	if c.LabFault == "" {
		return "none"
	}
	return c.LabFault
}

// A session service of the lab's own, in Go, on the real gocql (lab code, not product).
// It serves Kask's API over the lab's Cassandra cluster and meets Cassandra's failures
// the way Kask does, because it runs the same driver, configured the same way.
//
//	session-service --config service.json
//
// Wiring only: config -> storage -> HTTP; SIGTERM or SIGINT stops it gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
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

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go exitWithParent(stop)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()

	log.Write("INFO", "listening on "+address, map[string]string{"fault": faultName(config)})
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		log.Write("ERROR", err.Error(), nil)
		os.Exit(1)
	}
	storage.Close()
}

// exitWithParent stops the service when its supervisor dies (a killed test), rather
// than leave it on its port.
func exitWithParent(stop chan<- os.Signal) {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			stop <- syscall.SIGTERM
			return
		}
	}
}

func faultName(c Config) string {
	if c.LabFault == "" {
		return "none"
	}
	return c.LabFault
}

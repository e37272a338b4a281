// open-loop: HTTP load at a fixed rate, each request sent at its intended time whatever
// became of the earlier ones, and its latency taken from that intended time, as wrk2
// does: a stall delays every request due during it, and each counts it. No generator
// in Debian or npm does this (wrk, hey, bombardier, h2load and autocannon wait for a
// connection's answer before its next request), so this one is ours, on Go's HTTP
// client and HdrHistogram (Debian's golang-github-codahale-hdrhistogram-dev).
//
//	open-loop -url URL -rate N -seconds S [-warmup S] [-max-connections N]
//
// Prints one JSON object: requests sent and failed, latency percentiles in µs, and how
// late the generator itself dispatched (its own health: the direct target's figures are
// its floor).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/codahale/hdrhistogram"
)

type result struct {
	Rate          int     `json:"rate"`
	Seconds       float64 `json:"seconds"`
	Sent          int64   `json:"sent"`
	Failed        int64   `json:"failed"`
	P50Us         int64   `json:"p50_us"`
	P90Us         int64   `json:"p90_us"`
	P99Us         int64   `json:"p99_us"`
	P999Us        int64   `json:"p999_us"`
	MaxUs         int64   `json:"max_us"`
	DispatchP99Us int64   `json:"dispatch_late_p99_us"`
	Connections   int     `json:"max_connections"`
}

func main() {
	url := flag.String("url", "", "the URL to GET")
	rate := flag.Int("rate", 1000, "requests per second")
	seconds := flag.Float64("seconds", 10, "how long to measure")
	warmup := flag.Float64("warmup", 2, "seconds at the same rate before measuring, not counted")
	maxConnections := flag.Int("max-connections", 512, "connections at most; a request finding none free waits, and its wait counts")
	flag.Parse()
	if *url == "" || *rate <= 0 || *seconds <= 0 {
		fmt.Fprintln(os.Stderr, "usage: open-loop -url URL -rate N -seconds S [-warmup S] [-max-connections N]")
		os.Exit(2)
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: *maxConnections, MaxIdleConnsPerHost: *maxConnections, DisableCompression: true},
	}
	latency := hdrhistogram.New(1, 60_000_000, 3)
	late := hdrhistogram.New(1, 60_000_000, 3)
	var mu sync.Mutex
	var sent, failed int64
	var inFlight sync.WaitGroup

	interval := time.Second / time.Duration(*rate)
	start := time.Now().Add(20 * time.Millisecond)
	measureFrom := start.Add(time.Duration(*warmup * float64(time.Second)))
	end := measureFrom.Add(time.Duration(*seconds * float64(time.Second)))
	for i := int64(0); ; i++ {
		intended := start.Add(time.Duration(i) * interval)
		if !intended.Before(end) {
			break
		}
		if wait := time.Until(intended); wait > 0 {
			time.Sleep(wait)
		}
		counted := !intended.Before(measureFrom)
		if counted {
			late.RecordValue(max64(1, time.Since(intended).Microseconds()))
		}
		inFlight.Add(1)
		go func(intended time.Time, counted bool) {
			defer inFlight.Done()
			ok := false
			if response, err := client.Get(*url); err == nil {
				_, err = io.Copy(io.Discard, response.Body)
				response.Body.Close()
				ok = err == nil && response.StatusCode < 400
			}
			took := time.Since(intended).Microseconds()
			if !counted {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			sent++
			if !ok {
				failed++
			}
			latency.RecordValue(max64(1, took))
		}(intended, counted)
	}
	inFlight.Wait()
	out := result{
		Rate: *rate, Seconds: *seconds, Sent: sent, Failed: failed,
		P50Us: latency.ValueAtQuantile(50), P90Us: latency.ValueAtQuantile(90), P99Us: latency.ValueAtQuantile(99),
		P999Us: latency.ValueAtQuantile(99.9), MaxUs: latency.Max(), DispatchP99Us: late.ValueAtQuantile(99), Connections: *maxConnections,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

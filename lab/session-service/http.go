package main

// Kask's HTTP API: GET/POST/DELETE /sessions/v1/{key}, binary values, RFC 7807 problem
// bodies; a static /healthz (that is the point: it answered 200 through both
// outages); /metrics with one counter of requests by method and status.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

const sessionsPrefix = "/sessions/v1/"

// store is what the handlers need of storage; it exists so that a test could stand in.
type store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

type api struct {
	storage  store
	log      *Logger
	requests *requestCounter
}

func newAPI(storage store, log *Logger) http.Handler {
	a := &api{storage: storage, log: log, requests: &requestCounter{counts: map[[2]string]int{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/metrics", a.requests.serve)
	mux.HandleFunc(sessionsPrefix, a.sessions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w, r) })
	return a.counted(mux)
}

func (a *api) sessions(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, sessionsPrefix)
	if key == "" || strings.Contains(key, "/") {
		notFound(w, r)
		return
	}
	requestID := r.Header.Get("X-Request-ID")
	if requestID == "" {
		requestID = "00000000-0000-0000-0000-000000000000"
	}
	switch r.Method {
	case http.MethodGet:
		value, err := a.storage.Get(r.Context(), key)
		if err == errNotFound {
			notFound(w, r)
			return
		}
		if err != nil {
			a.storageFailed(w, r, "reading from", requestID, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(value)
	case http.MethodPost:
		value, err := io.ReadAll(r.Body)
		if err != nil || len(value) == 0 {
			problem(w, r, http.StatusBadRequest, "bad_request", "Bad request", "The request was incorrect or malformed")
			return
		}
		if err := a.storage.Set(r.Context(), key, value); err != nil {
			a.storageFailed(w, r, "writing to", requestID, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		if err := a.storage.Delete(r.Context(), key); err != nil {
			a.storageFailed(w, r, "deleting in", requestID, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		problem(w, r, http.StatusBadRequest, "bad_request", "Bad request", "The request was incorrect or malformed")
	}
}

// storageFailed logs the driver's error as Kask does (the coordinator's own text,
// "Cannot achieve consistency level LOCAL_QUORUM"), and answers 500.
func (a *api) storageFailed(w http.ResponseWriter, r *http.Request, what, requestID string, err error) {
	a.log.Write("ERROR", fmt.Sprintf("Error %s storage (%s)", what, err), map[string]string{"request_id": requestID})
	problem(w, r, http.StatusInternalServerError, "server_error", "Internal server error", "The server encountered an error with your request")
}

func notFound(w http.ResponseWriter, r *http.Request) {
	problem(w, r, http.StatusNotFound, "not_found", "Not found", "The value you requested was not found")
}

func problem(w http.ResponseWriter, r *http.Request, status int, name, title, detail string) {
	body, _ := json.MarshalIndent(map[string]string{
		"type": "https://www.mediawiki.org/wiki/Kask/errors/" + name, "title": title, "detail": detail, "instance": r.URL.RequestURI(),
	}, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// requestCounter is kask_requests_total{method,code}, in Prometheus' text format.
type requestCounter struct {
	mu     sync.Mutex
	counts map[[2]string]int
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(status int) {
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}

func (a *api) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		a.requests.mu.Lock()
		a.requests.counts[[2]string{r.Method, fmt.Sprint(recorder.status)}]++
		a.requests.mu.Unlock()
	})
}

func (c *requestCounter) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	lines := make([]string, 0, len(c.counts))
	for labels, n := range c.counts {
		lines = append(lines, fmt.Sprintf("kask_requests_total{method=%q,code=%q} %d", labels[0], labels[1], n))
	}
	c.mu.Unlock()
	sort.Strings(lines)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP kask_requests_total Requests by method and code.\n# TYPE kask_requests_total counter\n%s\n", strings.Join(lines, "\n"))
}

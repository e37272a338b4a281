package main

// JSON log lines on stdout, in the shape Kask writes them, so that the demo and the
// tests read the same lines an SRE would:
//   {"msg":"Error writing to storage (...)","appname":"sessionstore","time":"...","level":"ERROR","request_id":"..."}

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

type Logger struct {
	mu      sync.Mutex
	appname string
}

func newLogger() *Logger { return &Logger{appname: "sessionstore"} }

func (l *Logger) Write(level, msg string, fields map[string]string) {
	line := map[string]string{"msg": msg, "appname": l.appname, "time": time.Now().UTC().Format(time.RFC3339), "level": level}
	for k, v := range fields {
		line[k] = v
	}
	encoded, _ := json.Marshal(line)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(os.Stdout, string(encoded))
}

// driverLog carries gocql's own messages (host down, unable to dial) into the same
// stream, at DEBUG, as Kask leaves them.
type driverLog struct{ log *Logger }

func (d driverLog) Print(v ...interface{}) {
	d.log.Write("DEBUG", strings.TrimSpace(fmt.Sprint(v...)), nil)
}
func (d driverLog) Printf(format string, v ...interface{}) {
	d.log.Write("DEBUG", strings.TrimSpace(fmt.Sprintf(format, v...)), nil)
}
func (d driverLog) Println(v ...interface{}) {
	d.log.Write("DEBUG", strings.TrimSpace(fmt.Sprintln(v...)), nil)
}

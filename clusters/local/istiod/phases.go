package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"
)

// startPhases times what egress-istiod does before it is ready, so that the bench can
// say where the mesh's start goes (its ready line carries them). The first phase starts
// at the process's own start, so the Go runtime's and Istio's package initialisation
// count too.
type startPhases struct {
	last  time.Time
	names []string
	spent map[string]float64
}

func newStartPhases() *startPhases {
	return &startPhases{last: processStart(), spent: map[string]float64{}}
}

// mark ends the phase called name, which began where the previous one ended.
func (p *startPhases) mark(name string) {
	now := time.Now()
	p.names = append(p.names, name)
	p.spent[name] = now.Sub(p.last).Seconds()
	p.last = now
}

// MarshalJSON writes {"name_s": seconds} in the order the phases ran.
func (p *startPhases) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for i, name := range p.names {
		if i > 0 {
			out = append(out, ',')
		}
		key, _ := json.Marshal(name + "_s")
		value, _ := json.Marshal(p.spent[name])
		out = append(append(append(out, key...), ':'), value...)
	}
	return append(out, '}'), nil
}

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's times (100 on every
// architecture Linux supports today).
const clockTicks = 100

// processStart is when the kernel started this process, to 10 ms: /proc/self/stat's
// starttime and /proc/uptime are both counted from boot. The time main began when they
// cannot be read.
func processStart() time.Time {
	now := time.Now()
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return now
	}
	// The command name may hold spaces: the fields start after its closing parenthesis.
	text := string(stat)
	fields := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(fields) < 20 {
		return now
	}
	ticks, err := strconv.ParseFloat(fields[19], 64) // field 22 of the whole line
	if err != nil {
		return now
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return now
	}
	up, err := strconv.ParseFloat(strings.Fields(string(uptime))[0], 64)
	if err != nil {
		return now
	}
	age := time.Duration((up - ticks/clockTicks) * float64(time.Second))
	if age < 0 {
		return now
	}
	return now.Add(-age)
}

// Package safetext makes untrusted text (tensor names, paths, config values read
// from input files) safe to print on a terminal.
//
// A terminal acts on control characters: ESC starts sequences that move the
// cursor, clear the screen or set the window title; C1 controls (U+0080–U+009F,
// or their raw bytes on a non-UTF-8 terminal) do the same; NUL, BEL, BS, CR and
// DEL hide or rewrite what was printed; bidi overrides (U+202A–U+202E,
// U+2066–U+2069) reorder the rest of the line. Escape renders every one of them
// visibly as a Go-style escape (\x1b, \u202e, ...), so what a file holds is
// shown, never executed.
package safetext

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// unsafeRune reports whether r must not reach a terminal as is. Newline and tab
// are unsafe in a single-line value; Multiline keeps them.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f: // C0 controls, DEL
		return true
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c: // bidi marks
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// Safe reports whether s can be printed as is in a single-line context.
func Safe(s string) bool { return clean(s, false) }

func clean(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if multiline && (c == '\n' || c == '\t') {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

// Escape renders s for a single line: every control character (newline and tab
// included), DEL, C1 control, bidi control and invalid UTF-8 byte becomes a
// visible escape. Safe text comes back unchanged, without allocating.
func Escape(s string) string {
	if clean(s, false) {
		return s
	}
	return escape(s, false)
}

// Multiline is Escape but keeps newlines and tabs: for messages and reports
// whose line structure is the program's own.
func Multiline(s string) string {
	if clean(s, true) {
		return s
	}
	return escape(s, true)
}

func escape(s string, multiline bool) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Writer escapes everything written through it like Multiline; it is safe for
// concurrent use. A UTF-8 sequence
// split across two writes is held back until it is complete; Flush writes what
// is held (escaped as invalid bytes).
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	pending []byte
}

// NewWriter returns a Writer that escapes text for w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Raw returns the underlying writer, for the program's own control sequences.
func (w *Writer) Raw() io.Writer { return w.w }

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if len(w.pending) > 0 {
		p = append(w.pending, p...)
		w.pending = nil
	}
	// Hold back an incomplete trailing UTF-8 sequence.
	cut := len(p)
	for k := 1; k <= 3 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < 0x80 {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-k:]) {
				cut = len(p) - k
			}
			break
		}
	}
	if cut < len(p) {
		w.pending = append([]byte(nil), p[cut:]...)
		p = p[:cut]
	}
	if _, err := io.WriteString(w.w, Multiline(string(p))); err != nil {
		return 0, err
	}
	return n, nil
}

// Flush writes a held-back incomplete sequence.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	s := escape(string(w.pending), true)
	w.pending = nil
	_, err := io.WriteString(w.w, s)
	return err
}

// JSONWriter passes JSON through, replacing DEL, C1 controls, bidi controls and
// U+2028/U+2029 with their \u escapes. encoding/json already escapes C0
// controls and invalid UTF-8; these runes can only occur inside JSON strings,
// so the output decodes to the same values and is plain ASCII where it matters
// when a person reads it on a terminal.
type JSONWriter struct {
	mu      sync.Mutex
	w       io.Writer
	pending []byte
}

// NewJSONWriter returns a JSONWriter over w.
func NewJSONWriter(w io.Writer) *JSONWriter { return &JSONWriter{w: w} }

func (w *JSONWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if len(w.pending) > 0 {
		p = append(w.pending, p...)
		w.pending = nil
	}
	cut := len(p)
	for k := 1; k <= 3 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < 0x80 {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-k:]) {
				cut = len(p) - k
			}
			break
		}
	}
	if cut < len(p) {
		w.pending = append([]byte(nil), p[cut:]...)
		p = p[:cut]
	}
	ascii := true
	for _, c := range p {
		if c >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii { // nothing to escape: pass the bytes on without a copy
		if _, err := w.w.Write(p); err != nil {
			return 0, err
		}
		return n, nil
	}
	s := string(p)
	dirty := false
	for _, r := range s {
		if r == 0x7f || (r >= 0x80 && unsafeRune(r)) {
			dirty = true
			break
		}
	}
	if dirty {
		var b strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == 0x7f || (r >= 0x80 && size > 1 && unsafeRune(r)) {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		s = b.String()
	}
	if _, err := io.WriteString(w.w, s); err != nil {
		return 0, err
	}
	return n, nil
}

// Flush writes a held-back incomplete sequence unchanged.
func (w *JSONWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	_, err := w.w.Write(w.pending)
	w.pending = nil
	return err
}

// Frame escapes a rendered screen: it keeps newlines and the SGR sequences
// (ESC [ params m) that colour and style text, and escapes every other control,
// so a name that reached the frame unescaped can still not move the cursor,
// clear the screen or set the title. Frames without controls come back as is.
func Frame(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f || c == '\n' {
			i++
			continue
		}
		if c == 0x1b {
			if j := sgrEnd(s, i); j > 0 {
				i = j
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !(r == utf8.RuneError && size <= 1) && !unsafeRune(r) {
			i += size
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[last:i])
		b.WriteString(escape(s[i:i+size], false))
		i += size
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// sgrEnd returns the end of the SGR sequence starting at s[i] (an ESC), or -1.
func sgrEnd(s string, i int) int {
	if i+1 >= len(s) || s[i+1] != '[' {
		return -1
	}
	for j := i + 2; j < len(s); j++ {
		switch c := s[j]; {
		case c >= '0' && c <= '9', c == ';', c == ':':
		case c == 'm':
			return j + 1
		default:
			return -1
		}
	}
	return -1
}

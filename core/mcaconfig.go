package core

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MCAConfigJSON renders mca_config.json: a flat object with sorted keys, indented by two
// spaces like mcore_adapter's own writer, numbers exactly as written in config.json.
func (p *Plan) MCAConfigJSON() ([]byte, error) {
	var raw bytes.Buffer
	raw.WriteByte('{')
	for i, kv := range p.MCAConfig {
		if i > 0 {
			raw.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Key)
		raw.Write(k)
		raw.WriteByte(':')
		raw.WriteString(kv.Value)
	}
	raw.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, raw.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("building mca_config.json: %w (this is a bug in omnitui; please report it with your config.json)", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

package core

import (
	"errors"
	"strings"
)

// UsageError reports values of the settings that no model accepts (a size out of
// range, an unknown --dtype or --transformer-impl), so a front end can refuse
// them as bad usage before planning; nil when every value is one of the allowed
// ones. Rules that depend on the model or on several settings together are the
// plan's issues, not usage errors.
func (s Settings) UsageError() error {
	var msgs []string
	for _, is := range s.validate() {
		if strings.HasPrefix(is.Code, "bad-") {
			msgs = append(msgs, is.Message)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

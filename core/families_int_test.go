package core

// The tests plan real families: register them.
import _ "github.com/omnitui/omnitui/core/families"

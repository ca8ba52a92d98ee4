package convert

// The plans these tests build need the registered model families.
import _ "github.com/omnitui/omnitui/core/families"

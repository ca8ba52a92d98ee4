package loader

// JSONKind is the kind of a JSON value.
type JSONKind int

const (
	JSONNull JSONKind = iota
	JSONBool
	JSONNumber
	JSONString
	JSONArray
	JSONObject
)

// JSONNode is a JSON value kept in file order with scalars exactly as written
// (1e-06 stays 1e-06, 1000000 stays 1000000).
type JSONNode struct {
	Kind     JSONKind
	Key      string      // member name when the parent is an object
	Raw      string      // scalar text as written (strings keep their quotes); empty for arrays/objects
	Children []*JSONNode // array elements or object members, in file order
	Line     int         // 1-based position of the value in the source
	Col      int
}

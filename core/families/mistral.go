package families

// The mistral template: ROLL's mcore_adapter mistral converter, which is llama's without
// rope_scaling. Mistral-Nemo-style configs (head_dim × heads ≠ hidden) convert: head_dim
// becomes kv_channels (docs/families/mistral.md).

import "github.com/omnitui/omnitui/core/family"

func init() { family.Register(llamaTemplate("mistral")) }

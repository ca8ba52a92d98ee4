package families

// The qwen2_5_vl template: ROLL registers Qwen2.5-VL with the same config mapping,
// constants, converter ops and dist rules as Qwen2-VL (its vision tower differs only in
// tensors that are renamed wholesale), so it is qwen2_vl's template under its own
// model type.

import "github.com/omnitui/omnitui/core/family"

func init() {
	family.Register(qwen2VLFamily("qwen2_5_vl"))
}

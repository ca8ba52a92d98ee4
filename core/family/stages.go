package family

// FirstChunkLayers is the number of decoder layers the first pipeline chunk (pp 0, vp 0)
// holds; ok is false when there are no stages. Families whose first layers take inputs
// besides the embedding (an encoder feeding several layers) check it in CheckStages.
func FirstChunkLayers(st []Stage) (n int, ok bool) {
	for _, x := range st {
		if x.PP == 0 && x.VP == 0 {
			return x.Count, true
		}
	}
	return 0, false
}

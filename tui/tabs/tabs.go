// Package tabs draws the header: the app name and the view tabs.
package tabs

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/styles"
)

// View draws the tab bar in width cells with view active highlighted.
// Tabs are numbered with their keys; Convert's key is c.
func View(st *styles.Styles, active common.ViewID, width int) string {
	var parts []string
	for v := common.ViewID(0); v < common.NumViews; v++ {
		k := fmt.Sprint(int(v) + 1)
		if v == common.ViewConvert {
			k = "c"
		}
		label := k + " " + v.Name()
		switch {
		case v == active && st.Plain:
			parts = append(parts, "["+label+"]")
		case v == active:
			parts = append(parts, st.TabActive.Render(label))
		case st.Plain:
			parts = append(parts, " "+label+" ")
		default:
			parts = append(parts, st.Tab.Render(label))
		}
	}
	line := st.Title.Render("omnitui") + " " + strings.Join(parts, "")
	if common.Width(line) > width {
		// Narrow: numbers only, the active tab named.
		parts = parts[:0]
		for v := common.ViewID(0); v < common.NumViews; v++ {
			k := fmt.Sprint(int(v) + 1)
			if v == common.ViewConvert {
				k = "c"
			}
			if v == active {
				parts = append(parts, "["+k+" "+v.Name()+"]")
			} else {
				parts = append(parts, " "+k+" ")
			}
		}
		line = strings.Join(parts, "")
	}
	return common.Truncate(line, width)
}

// Package tabs draws the header: the app name and the view tabs.
package tabs

import (
	"fmt"

	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/styles"
)

// View draws the tab bar in width cells with view active highlighted.
// Tabs are numbered with their keys; Convert's key is c.
func View(st *styles.Styles, active common.ViewID, width int) string {
	prefix, parts := layout(st, active, width)
	line := prefix
	for _, p := range parts {
		line += p
	}
	return common.Truncate(line, width)
}

// Hit is the view whose tab is drawn at column x, if any.
func Hit(st *styles.Styles, active common.ViewID, width, x int) (common.ViewID, bool) {
	prefix, parts := layout(st, active, width)
	at := common.Width(prefix)
	for v, p := range parts {
		w := common.Width(p)
		if x >= at && x < at+w && x < width {
			return common.ViewID(v), true
		}
		at += w
	}
	return 0, false
}

// layout is the text before the tabs and the tabs, one per view in order.
func layout(st *styles.Styles, active common.ViewID, width int) (string, []string) {
	var parts []string
	for v := common.ViewID(0); v < common.NumViews; v++ {
		label := key(v) + " " + v.Name()
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
	prefix := st.Title.Render("omnitui") + " "
	total := common.Width(prefix)
	for _, p := range parts {
		total += common.Width(p)
	}
	if total <= width {
		return prefix, parts
	}
	// Narrow: numbers only, the active tab named.
	parts = parts[:0]
	for v := common.ViewID(0); v < common.NumViews; v++ {
		if v == active {
			parts = append(parts, "["+key(v)+" "+v.Name()+"]")
		} else {
			parts = append(parts, " "+key(v)+" ")
		}
	}
	return "", parts
}

func key(v common.ViewID) string {
	if v == common.ViewConvert {
		return "c"
	}
	return fmt.Sprint(int(v) + 1)
}

package main

// --emit slurm / --emit k8s: job files that run the tasks of a split conversion and
// its commit, as printed.

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/omnitui/omnitui/core"
)

func commitCommand(cmd []string, rec *core.PlanRecord) []string {
	c := []string{cmd[0], "--batch", "--commit"}
	for _, a := range cmd[1:] {
		if a == "--force=true" {
			c = append(c, a)
		}
	}
	return append(c, rec.Out)
}

func writeSlurm(w io.Writer, t *taskOptions, cmd []string, rec *core.PlanRecord) {
	array := fmt.Sprintf("0-%d", rec.Tasks-1)
	if t.maxParallel > 0 {
		array += fmt.Sprintf("%%%d", t.maxParallel)
	}
	extra := ""
	if strings.TrimSpace(t.sbatchArgs) != "" {
		extra = " " + strings.TrimSpace(t.sbatchArgs)
	}
	name := "omnitui-" + rec.ID[:8]
	fmt.Fprintf(w, `#!/bin/sh
# Printed by %s (omnitui %s) for plan %s:
#   %s of %s
#   into %s in %d task(s).
# Run it as printed (sh FILE): it submits a job array of %d task(s) and a commit job that
# starts once every task succeeded (--dependency=afterok). Each task writes its files into
# %s; nothing appears at the output until the commit.
# See what is done: %s --batch --status %s
# A failed task can be resubmitted alone; the commit job prints the exact command.
set -eu
array_job=$(sbatch --parsable --job-name=%s --array=%s%s <<'OMNITUI_TASK'
#!/bin/sh
exec %s
OMNITUI_TASK
)
array_job=${array_job%%%%;*}
commit_job=$(sbatch --parsable --job-name=%s-commit --dependency=afterok:$array_job%s <<'OMNITUI_COMMIT'
#!/bin/sh
exec %s
OMNITUI_COMMIT
)
commit_job=${commit_job%%%%;*}
echo "omnitui: submitted task array $array_job (%d task(s)) and commit job $commit_job"
`, cmd[0], version, rec.ID, rec.Kind, rec.Input, rec.Out, rec.Tasks, rec.Tasks, core.StagingDir(rec.Out),
		shellQuote(cmd[0]), shellQuote(rec.Out),
		name, array, extra, shellJoin(append(append([]string(nil), cmd...), "--task-base=0")),
		name, extra, shellJoin(commitCommand(cmd, rec)), rec.Tasks)
}

// volume is a pod volume: a host path, or "pvc:NAME".
func volumeYAML(name, spec, defPath string) string {
	if spec == "" {
		spec = defPath
	}
	if claim, ok := strings.CutPrefix(spec, "pvc:"); ok {
		return fmt.Sprintf("      - name: %s\n        persistentVolumeClaim:\n          claimName: %s\n", name, yq(claim))
	}
	return fmt.Sprintf("      - name: %s\n        hostPath:\n          path: %s\n          type: Directory\n", name, yq(spec))
}

// yq quotes a YAML scalar (JSON strings are YAML).
func yq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func yamlList(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = yq(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func writeK8s(w io.Writer, t *taskOptions, cmd []string, rec *core.PlanRecord, input string) {
	name := "omnitui-" + rec.ID[:8]
	parallel := rec.Tasks
	if t.maxParallel > 0 {
		parallel = min(t.maxParallel, rec.Tasks)
	}
	binDir := filepath.Dir(cmd[0])
	outParent := filepath.Dir(rec.Out)
	mounts := fmt.Sprintf(`        volumeMounts:
        - name: omnitui
          mountPath: %s
          readOnly: true
        - name: input
          mountPath: %s
          readOnly: true
        - name: output
          mountPath: %s
`, yq(binDir), yq(input), yq(outParent))
	volumes := "      volumes:\n" + volumeYAML("omnitui", t.k8sBin, binDir) + volumeYAML("input", t.k8sIn, input) + volumeYAML("output", t.k8sOut, outParent)
	fmt.Fprintf(w, `# Printed by %s (omnitui %s) for plan %s:
#   %s of %s
#   into %s in %d task(s).
# kubectl apply -f FILE runs an Indexed Job (one pod per task; $JOB_COMPLETION_INDEX is the
# task) and a commit Job. The commit fails (and is retried with back-off) until every task
# is done, then publishes the output. Volumes: --k8s-input-volume, --k8s-output-volume and
# --k8s-bin-volume (a host path or pvc:NAME) are mounted at the paths the commands use.
apiVersion: batch/v1
kind: Job
metadata:
  name: %s
  labels:
    app.kubernetes.io/name: omnitui
    omnitui/plan: %s
spec:
  completionMode: Indexed
  completions: %d
  parallelism: %d
  backoffLimitPerIndex: 3
  template:
    metadata:
      labels:
        app.kubernetes.io/name: omnitui
    spec:
      restartPolicy: Never
      containers:
      - name: task
        image: %s
        command: %s
%s%s---
apiVersion: batch/v1
kind: Job
metadata:
  name: %s-commit
  labels:
    app.kubernetes.io/name: omnitui
    omnitui/plan: %s
spec:
  backoffLimit: 60
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: commit
        image: %s
        command: %s
%s%s`, cmd[0], version, rec.ID, rec.Kind, rec.Input, rec.Out, rec.Tasks,
		name, yq(rec.ID), rec.Tasks, parallel, yq(t.k8sImage), yamlList(cmd), mounts, volumes,
		name, yq(rec.ID), yq(t.k8sImage), yamlList(commitCommand(cmd, rec)), mounts, volumes)
}

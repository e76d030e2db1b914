package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/outpostapi"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "deploy/helm/outpost"

// rendered is the chart's output for one set of values, decoded as the
// plain manifests are (kubernetes_test.go).
type rendered = manifest

// renderChart renders the chart as `helm template` does (client only, no
// cluster), with the chart's values.yaml, then the files (relative to the
// chart), then overrides (YAML) on top.
func renderChart(t *testing.T, files []string, overrides ...string) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(filepath.Join(repo, chartDir))
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	rv, err := chartutil.ToRenderValues(ch, chartValues(t, files, overrides), chartutil.ReleaseOptions{
		Name: "outpost", Namespace: "outpost", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// lintChart is `helm lint --strict` with the same values: every warning
// and error is a failure; the informational messages are logged.
func lintChart(t *testing.T, files []string, overrides ...string) {
	t.Helper()
	res := lint.All(filepath.Join(repo, chartDir), chartValues(t, files, overrides), "outpost", false)
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		} else {
			t.Logf("helm lint: %s", m)
		}
	}
}

// chartValues are the values the user supplies: files (relative to the
// chart), then overrides (YAML) on top; the chart's values.yaml comes
// under them when the chart is rendered.
func chartValues(t *testing.T, files, overrides []string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(filepath.Join(repo, chartDir, f))
		if err != nil {
			t.Fatal(err)
		}
		vals = chartutil.MergeTables(v.AsMap(), vals)
	}
	for _, ov := range overrides {
		o := map[string]any{}
		if err := yaml.Unmarshal([]byte(ov), &o); err != nil {
			t.Fatalf("overrides: %v", err)
		}
		vals = chartutil.MergeTables(o, vals)
	}
	return vals
}

// decodeChart decodes every rendered object strictly into its Kubernetes
// type; an unknown field or kind is an error.
func decodeChart(t *testing.T, out map[string]string) *rendered {
	t.Helper()
	r := &rendered{}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for i, doc := range splitYAML([]byte(out[name])) {
			if err := decodeStrict(r, doc); err != nil {
				t.Errorf("%s, document %d: %v\n%s", name, i+1, err, doc)
			}
		}
	}
	return r
}

const (
	coreValues = `
core:
  host: https://authentik.example.com/
  token: {secretName: outpost-core, secretKey: token}
`
	redisValues = `
sessions:
  redis:
    host: outpost-redis
    password: {secretName: outpost-redis, secretKey: redis-password}
`
	sentinelValues = `
sessions:
  redis:
    password: {secretName: outpost-redis, secretKey: redis-password}
    sentinel:
      master: mymaster
      addrs: [redis-sentinel-0.redis:26379, redis-sentinel-1.redis:26379, redis-sentinel-2.redis:26379]
      password: {secretName: outpost-redis, secretKey: sentinel-password}
`
	clusterValues = `
sessions:
  redis:
    password: {secretName: outpost-redis, secretKey: redis-password}
    cluster:
      addrs: [redis-cluster-0.redis-cluster:6379, redis-cluster-1.redis-cluster:6379]
`
	postgresValues = `
sessions:
  postgresql:
    host: authentik-postgresql
    password: {secretName: authentik-postgresql, secretKey: password}
    sslmode: verify-full
    schema: outpost_a
`
	standaloneValues = `
mode: standalone
standalone:
  config: |
    outpost:
      name: test
    providers:
      - name: app
        external_host: https://app.example.com
        internal_host: http://app.default.svc:8080
        issuer: https://dex.example.com/
        client_id: app
        client_secret_file: /etc/outpost/secrets/client-secret
        cookie_secret_file: /etc/outpost/secrets/cookie-secret
  secretFiles: {secretName: app-outpost}
`
)

// The chart, rendered for each mode and store, gives objects the API
// accepts, with what the outpost reads and nothing inlined that is secret.
func TestHelmChart(t *testing.T) {
	type want struct {
		mode     string // core, standalone
		store    string // memory, redis, postgresql
		replicas int32  // 0: the HPA owns them
		hpa      bool
		monitor  bool
		env      map[string]string // name -> value, or "secret:NAME/KEY"
	}
	coreEnv := map[string]string{
		"AUTHENTIK_HOST":     "https://authentik.example.com/",
		"AUTHENTIK_TOKEN":    "secret:outpost-core/token",
		"AUTHENTIK_INSECURE": "false",
	}
	redisEnv := map[string]string{
		"AUTHENTIK_REDIS__HOST":     "outpost-redis",
		"AUTHENTIK_REDIS__PORT":     "6379",
		"AUTHENTIK_REDIS__PASSWORD": "secret:outpost-redis/redis-password",
	}
	sentinelEnv := map[string]string{
		"AUTHENTIK_REDIS__SENTINEL__MASTER":   "mymaster",
		"AUTHENTIK_REDIS__SENTINEL__ADDRS":    "redis-sentinel-0.redis:26379,redis-sentinel-1.redis:26379,redis-sentinel-2.redis:26379",
		"AUTHENTIK_REDIS__SENTINEL__PASSWORD": "secret:outpost-redis/sentinel-password",
		"AUTHENTIK_REDIS__PASSWORD":           "secret:outpost-redis/redis-password",
	}
	clusterEnv := map[string]string{
		"AUTHENTIK_REDIS__CLUSTER__ADDRS": "redis-cluster-0.redis-cluster:6379,redis-cluster-1.redis-cluster:6379",
		"AUTHENTIK_REDIS__PASSWORD":       "secret:outpost-redis/redis-password",
	}
	pgEnv := map[string]string{
		"AUTHENTIK_POSTGRESQL__HOST":     "authentik-postgresql",
		"AUTHENTIK_POSTGRESQL__PORT":     "5432",
		"AUTHENTIK_POSTGRESQL__NAME":     "authentik",
		"AUTHENTIK_POSTGRESQL__USER":     "authentik",
		"AUTHENTIK_POSTGRESQL__PASSWORD": "secret:authentik-postgresql/password",
		"AUTHENTIK_POSTGRESQL__SSLMODE":  "verify-full",
		"OUTPOST_POSTGRESQL__SCHEMA":     "outpost_a",
	}
	join := func(ms ...map[string]string) map[string]string {
		out := map[string]string{"AUTHENTIK_LOG_LEVEL": "info"}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name      string
		files     []string
		overrides []string
		want      want
	}{
		{"core/memory", nil, []string{coreValues},
			want{mode: "core", store: "memory", replicas: 1, env: join(coreEnv)}},
		{"core/memory/sticky", nil, []string{coreValues, "replicaCount: 2\nsessions: {memory: {stickySessionsAcknowledged: true}}\ncore: {hostBrowser: https://auth.example.com/, insecure: true}\nlisten: {trustedProxyCIDRs: [10.0.0.0/8, fd00::/8]}"},
			want{mode: "core", store: "memory", replicas: 2, env: join(coreEnv, map[string]string{
				"AUTHENTIK_HOST_BROWSER": "https://auth.example.com/", "AUTHENTIK_INSECURE": "true",
				"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": "10.0.0.0/8,fd00::/8"})}},
		{"core/redis", nil, []string{coreValues, redisValues, "replicaCount: 3"},
			want{mode: "core", store: "redis", replicas: 3, env: join(coreEnv, redisEnv)}},
		{"core/redis-sentinel", nil, []string{coreValues, sentinelValues, "replicaCount: 3"},
			want{mode: "core", store: "redis", replicas: 3, env: join(coreEnv, sentinelEnv)}},
		{"core/redis-sentinel/no-sentinel-password", nil, []string{coreValues, sentinelValues, "replicaCount: 2\nsessions: {redis: {sentinel: {password: {secretName: ''}}}}"},
			want{mode: "core", store: "redis", replicas: 2, env: join(coreEnv, map[string]string{
				"AUTHENTIK_REDIS__SENTINEL__MASTER": sentinelEnv["AUTHENTIK_REDIS__SENTINEL__MASTER"],
				"AUTHENTIK_REDIS__SENTINEL__ADDRS":  sentinelEnv["AUTHENTIK_REDIS__SENTINEL__ADDRS"],
				"AUTHENTIK_REDIS__PASSWORD":         sentinelEnv["AUTHENTIK_REDIS__PASSWORD"],
			})}},
		{"standalone/redis-cluster", nil, []string{standaloneValues, clusterValues, "replicaCount: 2"},
			want{mode: "standalone", store: "redis", replicas: 2, env: join(clusterEnv)}},
		{"core/postgresql", nil, []string{coreValues, postgresValues, "autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 6}\nmetrics: {serviceMonitor: {enabled: true}}\npodDisruptionBudget: {minAvailable: 1, maxUnavailable: ''}"},
			want{mode: "core", store: "postgresql", hpa: true, monitor: true, env: join(coreEnv, pgEnv)}},
		{"standalone/memory", nil, []string{standaloneValues, "metrics: {serviceMonitor: {enabled: true}}"},
			want{mode: "standalone", store: "memory", replicas: 1, monitor: true, env: join()}},
		{"standalone/redis", nil, []string{standaloneValues, redisValues, "replicaCount: 2\nstandalone: {config: '', existingSecret: app-providers}"},
			want{mode: "standalone", store: "redis", replicas: 2, env: join(redisEnv)}},
		{"standalone/postgresql", nil, []string{standaloneValues, postgresValues, "replicaCount: 2\nstandalone: {config: '', existingConfigMap: app-providers}"},
			want{mode: "standalone", store: "postgresql", replicas: 2, env: join(pgEnv)}},
		{"core/memory/assertion-keys", nil, []string{coreValues, "replicaCount: 2\nsessions: {memory: {stickySessionsAcknowledged: true}}\nassertion: {enabled: true, keys: {secretName: outpost-assertion-keys}}"},
			want{mode: "core", store: "memory", replicas: 2, env: join(coreEnv, map[string]string{
				"OUTPOST_ASSERTION__ENABLED": "true", "OUTPOST_ASSERTION__KEY_FILE": "/etc/outpost/assertion/keys.pem"})}},
		{"sidecar", []string{"values-sidecar.yaml"}, nil,
			want{mode: "standalone", store: "memory", replicas: 1, env: join()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderChart(t, tc.files, tc.overrides...)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			r := decodeChart(t, out)
			checkChart(t, r, tc.want.mode, tc.want.store, tc.want.replicas, tc.want.hpa, tc.want.monitor, tc.want.env)
			if f := tc.want.env["OUTPOST_ASSERTION__KEY_FILE"]; f != "" {
				pod := r.deployments[0].Spec.Template.Spec
				if !mountedFile(pod, pod.Containers[0], f) {
					t.Errorf("OUTPOST_ASSERTION__KEY_FILE=%s is not a file of a mounted Secret", f)
				}
			}
			lintChart(t, tc.files, tc.overrides...)
		})
	}
}

func checkChart(t *testing.T, r *rendered, mode, store string, replicas int32, hpa, monitor bool, env map[string]string) {
	t.Helper()
	if len(r.secrets) != 0 {
		t.Errorf("the chart renders %d Secrets; secrets must come from the operator's own", len(r.secrets))
	}
	if len(r.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(r.deployments))
	}
	d := r.deployments[0]
	pod := d.Spec.Template.Spec
	if !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the Deployment's selector %v does not match its pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if got := d.Spec.Template.Annotations["outpost.dev/session-store"]; got != store {
		t.Errorf("session store %q, want %q", got, store)
	}
	switch {
	case hpa && d.Spec.Replicas != nil:
		t.Errorf("replicas %d set next to an HPA", *d.Spec.Replicas)
	case !hpa && (d.Spec.Replicas == nil || *d.Spec.Replicas != replicas):
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, replicas)
	}

	// The pod: non-root, no token, no service links, /dev/shm in memory.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 1000 {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and runAsUser 1000", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("service links put other Services' variables into the environment")
	}
	var c *corev1.Container
	for i := range pod.Containers {
		if isOutpost(pod.Containers[i]) {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		t.Fatalf("no outpost container in %v", pod.Containers)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 1000 ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("outpost securityContext %+v", sc)
	}
	shm := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != "/dev/shm" {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory {
				shm = true
			}
		}
	}
	if !shm {
		t.Error("no in-memory emptyDir at /dev/shm (the image's TMPDIR) on a read-only root filesystem")
	}

	// Probes on the metrics port.
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/outpost.goauthentik.io/ping"}, {"readiness", c.ReadinessProbe, "/outpost.goauthentik.io/ready"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no %s httpGet probe", p.name)
			continue
		}
		port, ok := containerPort(*c, p.probe.HTTPGet.Port)
		if p.probe.HTTPGet.Path != p.path || !ok || port != 9300 {
			t.Errorf("%s probe %s on %v (port %d), want %s on 9300", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), port, p.path)
		}
	}

	// The environment: only names the outpost reads; secrets by reference.
	got := map[string]string{}
	for _, e := range c.Env {
		if !inOutpost(t, e.Name) {
			t.Errorf("env %s: the outpost does not read it", e.Name)
		}
		secretish := strings.HasSuffix(e.Name, "PASSWORD") || strings.HasSuffix(e.Name, "TOKEN")
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			got[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		case secretish:
			t.Errorf("env %s is inlined, want a secretKeyRef", e.Name)
		default:
			got[e.Name] = e.Value
		}
	}
	for k, v := range env {
		if got[k] != v {
			t.Errorf("env %s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := env[k]; !ok {
			t.Errorf("env %s = %q set, not expected in this mode/store", k, got[k])
		}
	}
	if len(c.EnvFrom) != 0 {
		t.Errorf("envFrom %v: want every variable named", c.EnvFrom)
	}

	// Mode: standalone passes --config to a mounted file; core does not.
	i := slices.Index(c.Args, "--config")
	switch mode {
	case "core":
		if i >= 0 {
			t.Errorf("core mode with --config: %v", c.Args)
		}
	case "standalone":
		if i < 0 || i+1 >= len(c.Args) {
			t.Fatalf("standalone mode without --config: %v", c.Args)
		}
		if !mountedFile(pod, *c, c.Args[i+1]) {
			t.Errorf("--config %s is not in a mounted ConfigMap or Secret", c.Args[i+1])
		}
	}

	// Two Services: the apps (9000, 9443) and metrics (9300).
	ports := map[string][]string{}
	for _, s := range r.services {
		if !labelsMatch(s.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the outpost's pods", s.Name, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			cp, ok := containerPort(*c, p.TargetPort)
			if !ok {
				t.Errorf("Service %s port %s targets %s, no such container port", s.Name, p.Name, p.TargetPort.String())
			}
			ports[s.Name] = append(ports[s.Name], fmt.Sprintf("%s:%d->%d", p.Name, p.Port, cp))
		}
	}
	wantPorts := map[string][]string{
		"outpost":         {"http:9000->9000", "https:9443->9443"},
		"outpost-metrics": {"http-metrics:9300->9300"},
	}
	if fmt.Sprint(ports) != fmt.Sprint(wantPorts) {
		t.Errorf("Services %v, want %v", ports, wantPorts)
	}

	// ServiceMonitor: only when asked, on the metrics Service only.
	if monitor != (len(r.serviceMonitors) == 1) {
		t.Errorf("%d ServiceMonitors, want enabled=%t", len(r.serviceMonitors), monitor)
	}
	for _, sm := range r.serviceMonitors {
		var sel []string
		for _, s := range r.services {
			if labelsMatch(sm.Spec.Selector.MatchLabels, s.Labels) {
				sel = append(sel, s.Name)
			}
		}
		if !slices.Equal(sel, []string{"outpost-metrics"}) {
			t.Errorf("ServiceMonitor selects %v, want only outpost-metrics", sel)
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http-metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want http-metrics /metrics", sm.Spec.Endpoints)
		}
		if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"outpost"}) {
			t.Errorf("ServiceMonitor namespaces %v", sm.Spec.NamespaceSelector.MatchNames)
		}
	}

	// PodDisruptionBudget: exactly one of minAvailable and maxUnavailable.
	if len(r.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(r.pdbs))
	}
	pdb := r.pdbs[0]
	if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
		t.Errorf("PDB minAvailable %v maxUnavailable %v: want exactly one", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
	}
	if hpa {
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
			t.Errorf("PDB minAvailable %v, want 1 as set", pdb.Spec.MinAvailable)
		}
	} else if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v, want the default 1", pdb.Spec.MaxUnavailable)
	}
	if !labelsMatch(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PDB selects %v, not the outpost's pods", pdb.Spec.Selector.MatchLabels)
	}

	// HorizontalPodAutoscaler: only when enabled, on the Deployment.
	if hpa != (len(r.hpas) == 1) {
		t.Fatalf("%d HPAs, want enabled=%t", len(r.hpas), hpa)
	}
	for _, h := range r.hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != d.Name {
			t.Errorf("HPA scales %+v, want the Deployment %s", ref, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 6 {
			t.Errorf("HPA replicas %v..%d, want 2..6", h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
			t.Errorf("HPA metrics %+v, want CPU", h.Spec.Metrics)
		}
	}
}

// mountedFile reports whether path, in container c, is a key of a ConfigMap
// or Secret volume mounted as a directory.
func mountedFile(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name || m.SubPath != "" {
				continue
			}
			var items []corev1.KeyToPath
			switch {
			case v.ConfigMap != nil:
				items = v.ConfigMap.Items
			case v.Secret != nil:
				items = v.Secret.Items
			default:
				continue
			}
			for _, it := range items {
				if filepath.Join(m.MountPath, it.Path) == path {
					return true
				}
			}
		}
	}
	return false
}

// What the outpost does not do, and values that would break it, fail the
// render with a message that says what to change.
func TestHelmChartRefuses(t *testing.T) {
	cases := []struct {
		name, values, message string
	}{
		{"memory with replicas > 1", coreValues + "replicaCount: 2",
			"more than one replica with sessions in memory"},
		{"memory with an HPA", coreValues + "autoscaling: {enabled: true}",
			"more than one replica with sessions in memory"},
		{"redis sentinel without addrs", coreValues + "sessions: {redis: {sentinel: {master: mymaster}}}",
			"sessions.redis.sentinel.addrs: Sentinel needs the sentinels' addresses"},
		{"redis sentinel without master", coreValues + "sessions: {redis: {sentinel: {addrs: ['s1:26379']}}}",
			"sessions.redis.sentinel.master: Sentinel needs the name"},
		{"redis sentinel and cluster", coreValues + "sessions: {redis: {sentinel: {master: m, addrs: ['s1:26379']}, cluster: {addrs: ['c1:6379']}}}",
			"both sentinel and cluster are set"},
		{"redis host and cluster", coreValues + "sessions: {redis: {host: r, cluster: {addrs: ['c1:6379']}}}",
			"sessions.redis.host: set together with sessions.redis.sentinel or sessions.redis.cluster"},
		{"redis cluster and postgresql", coreValues + clusterValues + "\n" + strings.Replace(postgresValues, "sessions:\n", "", 1),
			"both sessions.redis and sessions.postgresql.host are set"},
		{"inline sentinel password", coreValues + "sessions: {redis: {sentinel: {master: m, addrs: ['s1:26379'], password: hunter2}}}",
			"passwords come only from a Secret"},
		{"redis and postgresql", coreValues + redisValues + "\n" + strings.Replace(postgresValues, "sessions:\n", "", 1),
			"both sessions.redis and sessions.postgresql.host are set"},
		{"inline redis password", coreValues + "sessions: {redis: {host: r, password: hunter2}}",
			"passwords come only from a Secret"},
		{"inline postgresql password", coreValues + "sessions: {postgresql: {host: p, password: hunter2}}",
			"passwords come only from a Secret"},
		{"postgresql without a password secret", coreValues + "sessions: {postgresql: {host: p}}",
			"PostgreSQL needs a password from a Secret"},
		{"core without a host", "core: {token: {secretName: t}}", "core mode needs the authentik core's URL"},
		{"core without a token", "core: {host: https://a.example.com/}", "core mode needs the outpost's token from a Secret"},
		{"standalone with two sources", standaloneValues + "  existingSecret: x", "set exactly one of standalone.config"},
		{"standalone with none", "mode: standalone", "set exactly one of standalone.config"},
		{"unknown mode", "mode: embedded", "neither core nor standalone"},
		{"pdb with both", coreValues + "podDisruptionBudget: {minAvailable: 1, maxUnavailable: 1}", "set minAvailable or maxUnavailable, not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart(t, nil, tc.values)
			if err == nil {
				t.Fatalf("rendered; want a failure with %q", tc.message)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("failed with %v; want %q", err, tc.message)
			}
		})
	}
}

// values-sidecar.yaml: the app listens on the pod's loopback only, and the
// outpost's standalone configuration is valid and points at it.
func TestHelmChartSidecar(t *testing.T) {
	out, err := renderChart(t, []string{"values-sidecar.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	r := decodeChart(t, out)
	if len(r.deployments) != 1 {
		t.Fatalf("%d Deployments", len(r.deployments))
	}
	pod := r.deployments[0].Spec.Template.Spec
	var app, op *corev1.Container
	for i := range pod.Containers {
		if isOutpost(pod.Containers[i]) {
			op = &pod.Containers[i]
		} else {
			app = &pod.Containers[i]
		}
	}
	if len(pod.Containers) != 2 || app == nil || op == nil {
		t.Fatalf("containers %v: want the app and the outpost", pod.Containers)
	}
	var listen string
	for _, a := range app.Args {
		if v, ok := strings.CutPrefix(a, "-listen="); ok {
			listen = v
		}
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host != "127.0.0.1" {
		t.Errorf("the app listens on %q, want 127.0.0.1 only", listen)
	}
	if len(app.Ports) != 0 {
		t.Errorf("the app declares ports %v; only the outpost's are exposed", app.Ports)
	}
	i := slices.Index(op.Args, "--config")
	if i < 0 || i+1 >= len(op.Args) {
		t.Fatalf("no --config: %v", op.Args)
	}
	cfgPath := op.Args[i+1]
	yml, _ := sidecarFiles(t, &manifest{file: "values-sidecar.yaml", configMaps: r.configMaps}, pod, *op, cfgPath)
	// The secret files come from the operator's Secret: stand-ins here.
	dir := t.TempDir()
	secretDir := "/etc/outpost/secrets"
	var mounted bool
	for _, m := range op.VolumeMounts {
		mounted = mounted || m.MountPath == secretDir
	}
	if !mounted {
		t.Errorf("the Secret with the provider's files is not mounted at %s", secretDir)
	}
	for name, content := range map[string]string{"client-secret": "s3cret", "cookie-secret": "change-me-to-32-random-characters"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yml = strings.ReplaceAll(yml, secretDir, dir)
	snap, err := outpostapi.ParseStatic([]byte(yml), dir)
	if err != nil {
		t.Fatalf("the outpost's %s: %v", cfgPath, err)
	}
	if len(snap.Providers) == 0 {
		t.Fatal("no providers")
	}
	for _, p := range snap.Providers {
		if p.InternalURL == nil || p.InternalURL.Host != listen {
			t.Errorf("provider %s goes to %v, want the app at %s", p.Name, p.InternalURL, listen)
		}
	}
}

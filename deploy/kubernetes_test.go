package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/outpostapi"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifest is one file of deploy/kubernetes, decoded.
type manifest struct {
	file            string
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	serviceMonitors []*monitoringv1.ServiceMonitor
	pdbs            []*policyv1.PodDisruptionBudget
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
}

// decodeStrict decodes one document into the Kubernetes type its kind
// names; an unknown field, or an unknown kind, is an error.
func decodeStrict(m *manifest, doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	var obj any
	switch head.APIVersion + " " + head.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		m.deployments, obj = append(m.deployments, d), d
	case "v1 Service":
		s := &corev1.Service{}
		m.services, obj = append(m.services, s), s
	case "v1 ConfigMap":
		c := &corev1.ConfigMap{}
		m.configMaps, obj = append(m.configMaps, c), c
	case "v1 Secret":
		s := &corev1.Secret{}
		m.secrets, obj = append(m.secrets, s), s
	case "networking.k8s.io/v1 Ingress":
		obj = &networkingv1.Ingress{}
	case "networking.k8s.io/v1 NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		s := &monitoringv1.ServiceMonitor{}
		m.serviceMonitors, obj = append(m.serviceMonitors, s), s
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		m.pdbs, obj = append(m.pdbs, p), p
	case "autoscaling/v2 HorizontalPodAutoscaler":
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		m.hpas, obj = append(m.hpas, h), h
	default:
		return fmt.Errorf("unknown kind %s %s", head.APIVersion, head.Kind)
	}
	return yaml.UnmarshalStrict(doc, obj)
}

func loadManifests(t *testing.T) []*manifest {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repo, "deploy/kubernetes/*.yaml"))
	if len(files) < 4 {
		t.Fatalf("only %v in deploy/kubernetes", files)
	}
	var out []*manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := &manifest{file: filepath.Base(f)}
		for i, doc := range splitYAML(b) {
			if err := decodeStrict(m, doc); err != nil {
				t.Errorf("%s, document %d: %v", m.file, i+1, err)
			}
		}
		out = append(out, m)
	}
	return out
}

// splitYAML splits a multi-document stream on its "---" lines, dropping
// documents that hold only comments.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		for line := range strings.Lines(cur.String()) {
			if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
				docs = append(docs, bytes.Clone(cur.Bytes()))
				break
			}
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			flush()
			continue
		}
		cur.WriteString(sc.Text() + "\n")
	}
	flush()
	return docs
}

func isOutpost(c corev1.Container) bool { return strings.Contains(c.Image, "/outpost") }

func containerPort(c corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	manifests := loadManifests(t)
	var sawSidecar, sawStandalone, sawMonitor bool
	for _, m := range manifests {
		names := map[string]bool{}
		for _, c := range m.configMaps {
			names["configmap/"+c.Name] = true
		}
		for _, s := range m.secrets {
			names["secret/"+s.Name] = true
		}
		for _, d := range m.deployments {
			where := m.file + ": deployment " + d.Name
			pod := d.Spec.Template.Spec
			if !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("%s: selector %v does not select its pods %v", where, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			}
			if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("%s: pod does not require runAsNonRoot", where)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Errorf("%s: mounts a service account token it does not need", where)
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
				if v.ConfigMap != nil && !names["configmap/"+v.ConfigMap.Name] {
					t.Errorf("%s: volume %s names configmap %s, not in the file", where, v.Name, v.ConfigMap.Name)
				}
				if v.Secret != nil && !names["secret/"+v.Secret.SecretName] {
					t.Errorf("%s: volume %s names secret %s, not in the file", where, v.Name, v.Secret.SecretName)
				}
			}
			outposts := 0
			for _, c := range pod.Containers {
				where := where + ", container " + c.Name
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
					t.Errorf("%s: no cpu and memory requests", where)
				}
				if c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s: no memory limit", where)
				}
				sc := c.SecurityContext
				if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					(sc.Privileged != nil && *sc.Privileged) ||
					sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
					t.Errorf("%s: want no privileges: allowPrivilegeEscalation false, readOnlyRootFilesystem, capabilities drop ALL", where)
				}
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("%s: wants a readiness and a liveness probe", where)
				}
				for _, mount := range c.VolumeMounts {
					if _, ok := volumes[mount.Name]; !ok {
						t.Errorf("%s: mounts unknown volume %s", where, mount.Name)
					}
				}
				for _, ef := range c.EnvFrom {
					if ef.SecretRef != nil && !names["secret/"+ef.SecretRef.Name] {
						t.Errorf("%s: envFrom secret %s is not in the file", where, ef.SecretRef.Name)
					}
				}
				for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
					if p != nil && p.HTTPGet != nil {
						if _, ok := containerPort(c, p.HTTPGet.Port); !ok {
							t.Errorf("%s: probe port %s is none of the container's ports", where, p.HTTPGet.Port.String())
						}
					}
				}
				if !isOutpost(c) {
					continue
				}
				outposts++
				for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
					if p != nil && p.HTTPGet == nil {
						t.Errorf("%s: the outpost's probes should be httpGet on its metrics port", where)
					}
				}
				for _, e := range c.Env {
					if !inOutpost(t, e.Name) {
						t.Errorf("%s: sets %s, which the outpost never reads", where, e.Name)
					}
				}
				for _, ef := range c.EnvFrom {
					for _, s := range m.secrets {
						if ef.SecretRef != nil && s.Name == ef.SecretRef.Name {
							for k := range s.StringData {
								if !inOutpost(t, k) {
									t.Errorf("%s: secret %s gives %s, which the outpost never reads", where, s.Name, k)
								}
							}
						}
					}
				}
			}
			if outposts == 0 {
				continue
			}
			// The services of this deployment: selected ports must exist.
			for _, s := range m.services {
				if !labelsMatch(s.Spec.Selector, d.Spec.Template.Labels) {
					continue
				}
				var outpostOnly = true
				for _, sp := range s.Spec.Ports {
					found := false
					for _, c := range pod.Containers {
						if _, ok := containerPort(c, sp.TargetPort); ok {
							found = true
							outpostOnly = outpostOnly && isOutpost(c)
						}
					}
					if !found {
						t.Errorf("%s: service %s port %s targets no container port", m.file, s.Name, sp.TargetPort.String())
					}
				}
				if len(pod.Containers) > 1 {
					// A sidecar: the app must only be reachable through the outpost.
					sawSidecar = true
					if !outpostOnly {
						t.Errorf("%s: service %s exposes a port of a container other than the outpost", m.file, s.Name)
					}
				} else {
					sawStandalone = true
					var names []string
					for _, sp := range s.Spec.Ports {
						names = append(names, fmt.Sprintf("%s=%d", sp.Name, sp.Port))
					}
					slices.Sort(names)
					// authentik's Kubernetes integration names them so.
					if want := []string{"http-metrics=9300", "http=9000", "https=9443"}; !slices.Equal(names, want) {
						t.Errorf("%s: service %s ports %v, want %v", m.file, s.Name, names, want)
					}
				}
				for _, sm := range m.serviceMonitors {
					if !labelsMatch(sm.Spec.Selector.MatchLabels, s.Labels) {
						continue
					}
					sawMonitor = true
					for _, ep := range sm.Spec.Endpoints {
						if ep.Path != "/metrics" || !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
							t.Errorf("%s: servicemonitor %s endpoint %v is not a port of service %s at /metrics", m.file, sm.Name, ep, s.Name)
						}
					}
				}
			}
		}
	}
	if !sawSidecar || !sawStandalone || !sawMonitor {
		t.Errorf("want a standalone outpost with a ServiceMonitor and a sidecar example (standalone %t, monitor %t, sidecar %t)",
			sawStandalone, sawMonitor, sawSidecar)
	}
}

// The sidecar's app listens on the pod's loopback only, and the outpost's
// standalone configuration is valid and points at it.
func TestKubernetesSidecarConfiguration(t *testing.T) {
	for _, m := range loadManifests(t) {
		for _, d := range m.deployments {
			pod := d.Spec.Template.Spec
			if len(pod.Containers) < 2 {
				continue
			}
			var app, out *corev1.Container
			for i := range pod.Containers {
				if isOutpost(pod.Containers[i]) {
					out = &pod.Containers[i]
				} else {
					app = &pod.Containers[i]
				}
			}
			if app == nil || out == nil {
				t.Fatalf("%s: sidecar deployment %s has no app or no outpost", m.file, d.Name)
			}
			var listen string
			for _, a := range app.Args {
				if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
					listen = v
				}
			}
			host, port, err := net.SplitHostPort(listen)
			if err != nil || host != "127.0.0.1" {
				t.Errorf("%s: %s listens on %q, want 127.0.0.1 only", m.file, app.Name, listen)
			}
			i := slices.Index(out.Args, "--config")
			if i < 0 || i+1 >= len(out.Args) {
				t.Fatalf("%s: the outpost has no --config: %v", m.file, out.Args)
			}
			cfgPath := out.Args[i+1]
			yml, secrets := sidecarFiles(t, m, pod, *out, cfgPath)
			dir := t.TempDir()
			for path, content := range secrets {
				p := filepath.Join(dir, path)
				_ = os.MkdirAll(filepath.Dir(p), 0o700)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				yml = strings.ReplaceAll(yml, path, p)
			}
			snap, err := outpostapi.ParseStatic([]byte(yml), filepath.Join(dir, filepath.Dir(cfgPath)))
			if err != nil {
				t.Fatalf("%s: the outpost's %s: %v", m.file, cfgPath, err)
			}
			for _, p := range snap.Providers {
				if p.InternalURL == nil || p.InternalURL.Host != net.JoinHostPort(host, port) {
					t.Errorf("%s: provider %s goes to %v, want the app at %s", m.file, p.Name, p.InternalURL, listen)
				}
			}
		}
	}
}

// sidecarFiles resolves what the outpost container sees: the content of
// cfgPath and of every secret file, from the manifest's ConfigMaps and
// Secrets and the container's mounts.
func sidecarFiles(t *testing.T, m *manifest, pod corev1.PodSpec, c corev1.Container, cfgPath string) (string, map[string]string) {
	t.Helper()
	var cfg string
	secrets := map[string]string{}
	for _, mount := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != mount.Name {
				continue
			}
			if v.ConfigMap != nil {
				for _, cm := range m.configMaps {
					if cm.Name != v.ConfigMap.Name {
						continue
					}
					for _, it := range v.ConfigMap.Items {
						if filepath.Join(mount.MountPath, it.Path) == cfgPath {
							cfg = cm.Data[it.Key]
						}
					}
				}
			}
			if v.Secret != nil {
				for _, s := range m.secrets {
					if s.Name == v.Secret.SecretName {
						for k, val := range s.StringData {
							secrets[filepath.Join(mount.MountPath, k)] = val
						}
					}
				}
			}
		}
	}
	if cfg == "" {
		t.Fatalf("%s: %s is not mounted from a ConfigMap of the file", m.file, cfgPath)
	}
	return cfg, secrets
}

// Every httpGet probe of an outpost container answers 200-399 on the real
// binary, started with the container's environment and arguments (the
// listeners moved to free local ports).
func TestKubernetesProbesReachRealEndpoints(t *testing.T) {
	bin := filepath.Join(imageBinary(t), "outpost")
	for _, m := range loadManifests(t) {
		for _, d := range m.deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				if !isOutpost(c) {
					continue
				}
				t.Run(m.file+"/"+d.Name, func(t *testing.T) {
					probeOutpost(t, bin, c)
				})
			}
		}
	}
}

func probeOutpost(t *testing.T, bin string, c corev1.Container) {
	// Which listener each container port is, from the defaults or the env.
	listeners := map[string]string{
		"AUTHENTIK_LISTEN__HTTP": config.DefaultListenHTTP, "AUTHENTIK_LISTEN__HTTPS": config.DefaultListenHTTPS,
		"AUTHENTIK_LISTEN__METRICS": config.DefaultListenMetrics,
	}
	for _, e := range c.Env {
		if _, ok := listeners[e.Name]; ok {
			listeners[e.Name] = e.Value
		}
	}
	local := map[int32]string{}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for name, addr := range listeners {
		_, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		free := freeAddr(t)
		local[int32(n)] = free
		env = append(env, name+"="+free)
	}
	for _, e := range c.Env {
		if _, ok := listeners[e.Name]; !ok {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	args := slices.Clone(c.Args)
	if i := slices.Index(args, "--config"); i >= 0 {
		// A standalone configuration that loads without the cluster's files.
		cfg := filepath.Join(t.TempDir(), "providers.yaml")
		if err := os.WriteFile(cfg, []byte(minimalStandalone), 0o600); err != nil {
			t.Fatal(err)
		}
		args[i+1] = cfg
	} else {
		// With a core: a stand-in on this machine.
		core := startDevcore(t, bin)
		env = append(env, "AUTHENTIK_HOST=http://"+core+"/", "AUTHENTIK_TOKEN=probe-outpost-token")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	proctest.Start(t, "outpost", cmd)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes skip verification too
	}}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		g := p.HTTPGet
		port, _ := containerPort(c, g.Port)
		addr, ok := local[port]
		if !ok {
			t.Errorf("probe %s on port %d: the outpost listens on no such port", g.Path, port)
			continue
		}
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		url := scheme + "://" + addr + g.Path
		deadline := time.Now().Add(30 * time.Second)
		for {
			status := 0
			resp, err := client.Get(url)
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			if status >= 200 && status < 400 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("probe %s: %d %v, want 200-399 (what kubelet counts as success)", url, status, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

const minimalStandalone = `providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:1
    issuer: https://id.example.invalid/
    client_id: app
    client_secret: secret
    cookie_secret: 0123456789abcdef
`

// startDevcore runs the binary's stand-in core with one outpost whose token
// is probe-outpost-token.
func startDevcore(t *testing.T, bin string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "core.yaml")
	if err := os.WriteFile(cfg, []byte(`outposts:
  - pk: 0b9a2c5e-6d1f-4e3a-8c7b-9d0e1f2a3b4c
    name: probe
    token: probe-outpost-token
    providers: [app]
providers:
  - name: app
    external_host: https://app.example.com
    internal_host: http://127.0.0.1:1
    client_id: app
    client_secret: app-secret-0123456789abcdef0123456789ab
    cookie_secret: app-cookie-0123456789
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "devcore", "--config", cfg, "--listen", addr)
	proctest.Start(t, "devcore", cmd)
	proctest.WaitTCP(t, "devcore", addr, 30*time.Second)
	return addr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return proctest.FreeAddr(t)
}

// newStatusServer answers 200 on /ok and 404 elsewhere.
func newStatusServer(ln net.Listener) *http.Server {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			return
		}
		http.NotFound(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// runExit runs the binary and returns its exit code.
func runExit(t *testing.T, bin string, env []string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

{{/* The chart's name. */}}
{{- define "outpost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, for the objects. */}}
{{- define "outpost.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "outpost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outpost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "outpost.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "outpost.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The session store the values select: memory, redis or postgresql. Refuses
what the outpost refuses (two stores, two Redis topologies, a Sentinel
without its master or its addresses) and several replicas on memory without
sticky sessions.
*/}}
{{- define "outpost.sessionStore" -}}
{{- $s := .Values.sessions }}
{{- $sentinel := or $s.redis.sentinel.master $s.redis.sentinel.addrs }}
{{- $cluster := $s.redis.cluster.addrs }}
{{- $redis := or $s.redis.host $sentinel $cluster }}
{{- if and $sentinel $cluster }}
{{- fail "sessions.redis: both sentinel and cluster are set; a Redis Cluster and a master found through Sentinel are different deployments, set the one you run" }}
{{- end }}
{{- if and $s.redis.host (or $sentinel $cluster) }}
{{- fail "sessions.redis.host: set together with sessions.redis.sentinel or sessions.redis.cluster; host is one Redis node, unset it for Sentinel or Cluster" }}
{{- end }}
{{- if and $sentinel (not $s.redis.sentinel.master) }}
{{- fail "sessions.redis.sentinel.master: Sentinel needs the name the sentinels monitor the master by" }}
{{- end }}
{{- if and $sentinel (not $s.redis.sentinel.addrs) }}
{{- fail "sessions.redis.sentinel.addrs: Sentinel needs the sentinels' addresses (host:port)" }}
{{- end }}
{{- if and $redis $s.postgresql.host }}
{{- fail "sessions: both sessions.redis and sessions.postgresql.host are set; the outpost refuses both stores at once, set one" }}
{{- end }}
{{- if or (kindIs "string" $s.redis.password) (kindIs "string" $s.redis.sentinel.password) (kindIs "string" $s.postgresql.password) }}
{{- fail "sessions: passwords come only from a Secret: set password.secretName and password.secretKey, not a password value" }}
{{- end }}
{{- if $redis }}redis
{{- else if $s.postgresql.host }}
{{- if not $s.postgresql.password.secretName }}
{{- fail "sessions.postgresql.password.secretName: PostgreSQL needs a password from a Secret" }}
{{- end }}postgresql
{{- else }}
{{- $many := or (gt (int .Values.replicaCount) 1) (and .Values.autoscaling.enabled (gt (int .Values.autoscaling.maxReplicas) 1)) }}
{{- if and $many (not $s.memory.stickySessionsAcknowledged) }}
{{- fail "sessions: more than one replica with sessions in memory signs users out and loops their logins unless the load balancer is sticky; set sessions.redis (host, sentinel or cluster) or sessions.postgresql.host, or set sessions.memory.stickySessionsAcknowledged=true if your load balancer has sticky sessions" }}
{{- end }}memory
{{- end }}
{{- end }}

{{/* The mode, checked. */}}
{{- define "outpost.mode" -}}
{{- if eq .Values.mode "core" }}
{{- if not .Values.core.host }}
{{- fail "core.host: core mode needs the authentik core's URL (AUTHENTIK_HOST)" }}
{{- end }}
{{- if not .Values.core.token.secretName }}
{{- fail "core.token.secretName: core mode needs the outpost's token from a Secret (AUTHENTIK_TOKEN)" }}
{{- end }}core
{{- else if eq .Values.mode "standalone" }}
{{- $n := 0 }}
{{- if .Values.standalone.config }}{{ $n = add1 $n }}{{ end }}
{{- if .Values.standalone.existingConfigMap }}{{ $n = add1 $n }}{{ end }}
{{- if .Values.standalone.existingSecret }}{{ $n = add1 $n }}{{ end }}
{{- if ne (int $n) 1 }}
{{- fail "standalone: set exactly one of standalone.config, standalone.existingConfigMap and standalone.existingSecret (the providers YAML)" }}
{{- end }}standalone
{{- else }}
{{- fail (printf "mode: %q is neither core nor standalone" .Values.mode) }}
{{- end }}
{{- end }}

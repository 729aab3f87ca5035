{{/*
The fleet finds the tenant's objects by these names and labels (src/activities/kube-chart/tenant-chart.ts):
the namespace is the release's (tenant-<id>), the Deployment and its container are "app".
*/}}

{{- define "tenant.id" -}}
{{- required "tenant.id is set by the fleet for each tenant" .Values.tenant.id -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "tenant.labels" -}}
app.kubernetes.io/name: tenant-app
app.kubernetes.io/instance: {{ include "tenant.id" . | quote }}
app.kubernetes.io/managed-by: tenant-fleet
{{- end -}}

{{/* The Deployment's selector: immutable, so never add to it, or every existing tenant's apply is refused. */}}
{{- define "tenant.selectorLabels" -}}
app.kubernetes.io/name: tenant-app
app.kubernetes.io/instance: {{ include "tenant.id" . | quote }}
{{- end -}}

{{/*
Blue/green (docs/releases.md "Blue/green"): `tenant.colour` picks the slot this render is for.
Blue is the slot every tenant had before colours existed, so its objects keep their names, labels
and selectors exactly (no diff for existing tenants, and Deployment selectors are immutable).
Green's Deployment, Service, binding, disruption budget and security group policy are named
"<blue name>-green" and select pods whose instance is "<id>-green": a pod of one colour never
matches the other colour's selectors, so neither Service (nor target group) sees the other's pods.
The objects both colours share (namespace, ConfigMap, ServiceAccount, RBAC, quota, policies) render
the same for either colour.
*/}}
{{- define "tenant.green" -}}
{{- if eq (toString .Values.tenant.colour) "green" }}true{{ end -}}
{{- end -}}

{{/* The name of this colour's Deployment, Service and binding: "app" for blue, "app-green" for green. */}}
{{- define "tenant.slotName" -}}
{{- if include "tenant.green" . }}app-green{{ else }}app{{ end -}}
{{- end -}}

{{/* Labels of this colour's own objects. */}}
{{- define "tenant.slotLabels" -}}
{{- if include "tenant.green" . -}}
app.kubernetes.io/name: tenant-app
app.kubernetes.io/instance: {{ printf "%s-green" (include "tenant.id" .) | quote }}
app.kubernetes.io/managed-by: tenant-fleet
tenant-fleet.io/tenant-id: {{ include "tenant.id" . | quote }}
tenant-fleet.io/colour: green
{{- else -}}
{{- include "tenant.labels" . -}}
{{- end -}}
{{- end -}}

{{/* This colour's selector (green's never matches a blue pod, nor blue's a green one). */}}
{{- define "tenant.slotSelectorLabels" -}}
{{- if include "tenant.green" . -}}
app.kubernetes.io/name: tenant-app
app.kubernetes.io/instance: {{ printf "%s-green" (include "tenant.id" .) | quote }}
tenant-fleet.io/colour: green
{{- else -}}
{{- include "tenant.selectorLabels" . -}}
{{- end -}}
{{- end -}}

{{/* The pod template's labels: the selector's, and for green the tenant's ID (its instance label names the colour). */}}
{{- define "tenant.podLabels" -}}
{{- include "tenant.slotSelectorLabels" . }}
{{- if include "tenant.green" . }}
tenant-fleet.io/tenant-id: {{ include "tenant.id" . | quote }}
{{- end -}}
{{- end -}}

{{- define "tenant.port" -}}
{{- if gt (int .Values.tenant.port) 0 }}{{ int .Values.tenant.port }}{{ else }}{{ int .Values.port }}{{ end -}}
{{- end -}}

{{/*
Services (docs/services.md): a non-primary service's labels and selector, called with (list $ name).
The instance label is the tenant's, the name label is not "tenant-app": the primary's Service,
binding and Deployment selectors (name and instance) never match these pods, blue's security group
policy (instance only) and the network policies (every pod) do.
*/}}
{{- define "tenant.serviceSelectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: tenant-service
app.kubernetes.io/instance: {{ include "tenant.id" $root | quote }}
tenant-fleet.io/service: {{ index . 1 | quote }}
{{- end -}}

{{- define "tenant.serviceLabels" -}}
{{- include "tenant.serviceSelectorLabels" . }}
app.kubernetes.io/managed-by: tenant-fleet
{{- end -}}

{{/*
A container's env: its configuration (services only; the primary's is its ConfigMap), each secret
as "<NAME>_SECRET_ARN" holding the reference (the app reads the value with its role, as it reads
DATABASE_SECRET_ARN), and the release version. Called with (dict "config" "secrets" "releaseVersion").
*/}}
{{- define "tenant.containerEnv" -}}
{{- range $key, $value := .config }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $key, $arn := .secrets }}
- name: {{ printf "%s_SECRET_ARN" $key }}
  value: {{ $arn | quote }}
{{- end }}
{{- with .releaseVersion }}
- name: TENANT_FLEET_VERSION
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* A service's container health check (config/services.ts) as an exec liveness probe. */}}
{{- define "tenant.execProbe" -}}
exec:
  command:
    {{- toYaml .command | nindent 4 }}
periodSeconds: {{ int .intervalSeconds }}
timeoutSeconds: {{ int .timeoutSeconds }}
failureThreshold: {{ int .retries }}
initialDelaySeconds: {{ int .startPeriodSeconds }}
{{- end -}}

{{/*
A quota's amount with room for the tenant's services (docs/services.md) on top: each service's
requests (and memory limit) for its replicas plus the one a rolling update adds. The amount is
unchanged for a tenant without services, and for a quantity in units this does not add to
(cpu in cores or "m", memory in "Mi"/"Gi", pods as a count). Called with (list $ resource amount).
*/}}
{{- define "tenant.quotaWithServices" -}}
{{- $root := index . 0 -}}
{{- $resource := index . 1 -}}
{{- $amount := index . 2 | toString -}}
{{- $services := $root.Values.tenant.services -}}
{{- if not $services -}}
{{- $amount -}}
{{- else if eq $resource "pods" "count/pods" -}}
{{- $pods := 0 -}}
{{- range $services }}{{ $pods = add $pods (add1 (int .replicas)) }}{{ end -}}
{{- add (int $amount) $pods -}}
{{- else if and (eq $resource "requests.cpu" "cpu") (regexMatch "^[0-9]+(\\.[0-9]+)?m?$" $amount) -}}
{{- $millis := 0 -}}
{{- range $services }}{{ $millis = add $millis (mul (add1 (int .replicas)) (int (trimSuffix "m" .requests.cpu))) }}{{ end -}}
{{- $base := ternary (int (trimSuffix "m" $amount)) (int (mulf (float64 $amount) 1000)) (hasSuffix "m" $amount) -}}
{{- printf "%dm" (add $base $millis) -}}
{{- else if and (eq $resource "requests.memory" "memory" "limits.memory") (regexMatch "^[0-9]+(Mi|Gi)$" $amount) -}}
{{- $mebibytes := 0 -}}
{{- range $services }}{{ $mebibytes = add $mebibytes (mul (add1 (int .replicas)) (int (trimSuffix "Mi" .requests.memory))) }}{{ end -}}
{{- $base := ternary (mul (int (trimSuffix "Gi" $amount)) 1024) (int (trimSuffix "Mi" $amount)) (hasSuffix "Gi" $amount) -}}
{{- printf "%dMi" (add $base $mebibytes) -}}
{{- else -}}
{{- $amount -}}
{{- end -}}
{{- end -}}

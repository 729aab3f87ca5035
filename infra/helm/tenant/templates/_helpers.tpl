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

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

{{- define "tenant.port" -}}
{{- if gt (int .Values.tenant.port) 0 }}{{ int .Values.tenant.port }}{{ else }}{{ int .Values.port }}{{ end -}}
{{- end -}}

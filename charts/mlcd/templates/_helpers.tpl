{{/* Chart name, overridable. */}}
{{- define "mlcd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: RELEASE-CHART, or RELEASE alone when it already says mlcd. */}}
{{- define "mlcd.fullname" -}}
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

{{- define "mlcd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlcd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels of everything the release installs, CRDs included. */}}
{{- define "mlcd.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "mlcd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mlcd
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the operator and the objects that serve it. */}}
{{- define "mlcd.labels" -}}
{{ include "mlcd.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "mlcd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlcd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image, pinned by digest when one is given, else by tag (default: appVersion). */}}
{{- define "mlcd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
What the operator does to the objects it serves, in the namespaces it watches: the same rules
become a ClusterRole (every namespace) or a Role per watched namespace. No wildcards.
*/}}
{{- define "mlcd.namespacedRules" -}}
# TrainingRuns are reconciled; kopf patches its mlcd.io/ annotations and finalizer on them.
- apiGroups: [mlcd.io]
  resources: [trainingruns]
  verbs: [get, list, watch, patch, update]
# The hand-off creates the named ModelDeployment when it does not exist yet.
- apiGroups: [mlcd.io]
  resources: [modeldeployments]
  verbs: [get, list, watch, create, patch, update]
- apiGroups: [mlcd.io]
  resources: [trainingruns/status, modeldeployments/status]
  verbs: [get, patch, update]
# One InferenceService per ModelDeployment, owned by it; deleted on roll-back of a failed rollout.
- apiGroups: [serving.kserve.io]
  resources: [inferenceservices]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Preflight of a ModelDeployment: its serviceAccountName exists and lists usable Secrets.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
# Secrets by name only, never listed: the namespace's storage Secret (the operator's identity in
# that namespace's object storage) and the KServe credentials the preflight was told it may check.
- apiGroups: [""]
  resources: [secrets]
  resourceNames:
    {{- toYaml (uniq (prepend .Values.rbac.preflightSecrets .Values.storage.secretName)) | nindent 4 }}
  verbs: [get]
{{- end }}

{{/* The namespaces the operator watches, comma-separated; empty for every namespace. */}}
{{- define "mlcd.watchNamespaces" -}}
{{- if eq .Values.operator.backend "local" }}
{{- if and .Values.watchNamespaces (ne (join "," .Values.watchNamespaces) .Values.operator.localNamespace) }}
{{- fail "operator.backend local (development mode) watches operator.localNamespace only: leave watchNamespaces empty or list only it" }}
{{- end }}
{{- .Values.operator.localNamespace }}
{{- else }}
{{- join "," .Values.watchNamespaces }}
{{- end }}
{{- end }}

{{/* kopf's discovery, cluster-scoped whatever namespaces are watched. */}}
{{- define "mlcd.discoveryRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}

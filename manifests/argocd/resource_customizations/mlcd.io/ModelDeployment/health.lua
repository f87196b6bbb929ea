-- Argo CD health of an mlcd ModelDeployment (resource.customizations.health.mlcd.io_ModelDeployment).
-- Healthy: spec.model.uri takes all the traffic. Progressing: not yet observed, or a rollout (a
-- canary) is in flight. Suspended: the rollout waits for credentials KServe can use. Degraded: the
-- new model was rolled back or the deployment failed (the message says which model serves).
local hs = {status = "Progressing", message = "Waiting for the mlcd operator"}

local status = obj.status
if status == nil or status.phase == nil then
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "CredentialsReady" and c.status == "False" then
      hs.status = "Suspended"
      hs.message = c.message or "Waiting for credentials KServe can use"
      return hs
    end
  end
end

local phase = status.phase
if phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "Serving " .. tostring(status.activeModel)
  if status.url ~= nil then
    hs.message = hs.message .. " at " .. status.url
  end
elseif phase == "RolledBack" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = status.message or phase
else
  hs.message = status.message or ("ModelDeployment is " .. phase)
end
return hs

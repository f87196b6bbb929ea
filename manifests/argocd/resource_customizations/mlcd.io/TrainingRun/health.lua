-- Argo CD health of an mlcd TrainingRun (resource.customizations.health.mlcd.io_TrainingRun).
-- Healthy: the run passed its gates and registered a model. Progressing: not yet observed, or a
-- run is in flight. Suspended: the run waits for its namespace's storage Secret. Degraded: a gate
-- rejected the model (with the gate's message), the run failed, or the spec is invalid.
local hs = {status = "Progressing", message = "Waiting for the mlcd operator"}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function first_false_message(status)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.status == "False" and c.message ~= nil and c.message ~= "" then
      return c.message
    end
  end
  return nil
end

local function failed_gates(status)
  local messages = {}
  if status.gates ~= nil then
    for _, gate in ipairs(status.gates) do
      if gate.passed == false then
        if gate.message ~= nil and gate.message ~= "" then
          table.insert(messages, gate.message)
        else
          table.insert(messages, tostring(gate.metric) .. " = " .. tostring(gate.value) .. " (threshold " .. tostring(gate.threshold) .. ")")
        end
      end
    end
  end
  return table.concat(messages, "; ")
end

local status = obj.status
if status == nil or status.phase == nil then
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local storage = condition(status, "StorageReady")
if storage ~= nil and storage.status == "False" then
  hs.status = "Suspended"
  hs.message = storage.message or "Waiting for the namespace's storage Secret"
  return hs
end

local phase = status.phase
if phase == "Succeeded" then
  hs.status = "Healthy"
  if status.model ~= nil and status.model.version ~= nil then
    hs.message = "Model version " .. tostring(status.model.version) .. " registered"
    if status.keyMetric ~= nil then
      hs.message = hs.message .. " (" .. status.keyMetric .. ")"
    end
  else
    hs.message = status.message or "Succeeded"
  end
elseif phase == "Rejected" then
  hs.status = "Degraded"
  local gates = failed_gates(status)
  if gates ~= "" then
    hs.message = "Rejected by its gates: " .. gates
  else
    local gate = condition(status, "GatesPassed")
    hs.message = (gate and gate.message) or status.message or "Rejected by its gates"
  end
elseif phase == "Failed" or phase == "Invalid" then
  hs.status = "Degraded"
  hs.message = status.message or first_false_message(status) or phase
else
  hs.message = status.message or ("TrainingRun is " .. phase)
end
return hs

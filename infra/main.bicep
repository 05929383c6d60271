// amlite on Azure: a Flex Consumption (FC1) Function App running the Durable
// orchestrator, one keyless storage account for both the Functions host and
// amlite's run state and data, a user-assigned identity holding the data-plane
// roles, Application Insights on Log Analytics, and the Event Grid system topic
// that delivers the account's blob events to the data-change trigger (azd's
// postdeploy hook subscribes the trigger: scripts/postdeploy_eventgrid.py).
//
// Deploy with `azd up` (see azure.yaml) or
// `az deployment group create -g <rg> -f infra/main.bicep -p apiClientId=<app id>`.
// docs/deploy.md walks through both.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------- parameters

@minLength(1)
@maxLength(64)
@description('Environment name (azd sets it). Feeds the name suffix of every resource and the azd-env-name tag.')
param environmentName string = 'amlite'

@description('Region of every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
param location string = resourceGroup().location

@minLength(1)
@description('Application (client) id of the amlite API app registration in Entra ID. Becomes AMLITE_CLIENT_ID; tokens for <id> or api://<id> are accepted.')
param apiClientId string

@description('Directory (tenant) id of the API app registration. Becomes AMLITE_TENANT_ID. Empty = the tenant of this subscription.')
param apiTenantId string = ''

@description('Further accepted token audiences, comma separated (for a custom Application ID URI). Becomes AMLITE_AUDIENCES when set.')
param apiAudiences string = ''

@description('More app settings, merged over the generated ones, e.g. AMLITE_PRINCIPAL_ROLES or AMLITE_ACCEPT_ARM_AUDIENCE. Settings changed by hand in the portal are replaced on the next deployment; put them here instead. No secrets: use Key Vault references.')
param extraAppSettings object = {}

@minLength(3)
@maxLength(45)
@description('Durable Functions task hub name (AMLITE_TASK_HUB): letters and digits, starting with a letter.')
param taskHubName string = 'amlite'

@minValue(40)
@maxValue(1000)
@description('Most instances the Flex Consumption app scales out to. 40 is the lowest maximum the plan accepts.')
param maximumInstanceCount int = 100

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the "durable" trigger group. 1, as the Durable Functions docs recommend on Flex Consumption: orchestrations and activities start without a cold start. Billed while idle; 0 saves that.')
param durableAlwaysReadyInstances int = 1

@allowed([
  '3.11'
  '3.12'
])
@description('Python version of the app. Only versions every pin in requirements.txt installs on (docs/deploy.md: Python versions).')
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance, in MB. With stepMemoryMB it sets how many steps one instance runs at once.')
param instanceMemoryMB int = 2048

@minValue(0)
@description('Memory budget of one step process, in MB; 0 = infra/sizing.json defaultStepMemoryMB (384). Each instance runs max(1, (instanceMemoryMB - 512) / stepMemoryMB) step activities at once.')
param stepMemoryMB int = 0

@minValue(0)
@maxValue(32)
@description('PYTHON_THREADPOOL_THREAD_COUNT. 0 = derived from host.json (see pythonThreads below).')
param pythonThreadCount int = 0

@description('Put the app on a virtual network and reach storage only through private endpoints. Clients outside the network then cannot read runs, logs or outputs.')
param vnetEnabled bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
@description('Redundancy of the storage account.')
param storageSku string = 'Standard_LRS'

@description('Object id of a person or service principal to get Blob and Table data access on the storage account (azd passes the signed-in user). Empty = none.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principalId.')
param principalType string = 'User'

// Optional name overrides; empty = generated from the environment name.
param functionAppName string = ''
param storageAccountName string = ''
param identityName string = ''
param logAnalyticsName string = ''
param applicationInsightsName string = ''
param vnetName string = ''

// ---------------------------------------------------------------- names

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'amlite'
}
var appName = !empty(functionAppName) ? functionAppName : 'func-amlite-${token}'
var stgName = !empty(storageAccountName) ? storageAccountName : 'st${token}'
var deploymentContainerName = 'app-package-${token}'
var tenantIdValue = !empty(apiTenantId) ? apiTenantId : tenant().tenantId

// Sizing (docs/deploy.md: "How many steps run on one instance"). Every running
// step is a child process of the Python worker, so the activities one instance
// takes at once follow its memory: what the Functions host and the worker keep
// (hostReserveMB) off the top, then one stepMemoryMB budget per step. This
// overrides host.json's maxConcurrentActivityFunctions (the 2048 MB value).
var sizing = loadJsonContent('sizing.json')
var hostJson = loadJsonContent('../host.json')
var durableHost = hostJson.extensions.durableTask
var stepMemory = stepMemoryMB > 0 ? stepMemoryMB : sizing.defaultStepMemoryMB
var activitySlots = max(1, (instanceMemoryMB - sizing.hostReserveMB) / stepMemory)

// The Python worker runs orchestrator and activity invocations (both sync) on
// one thread pool. Give it a thread for every invocation the Durable extension
// may dispatch at once, so long-running step activities do not hold up
// orchestrator replays or HTTP handlers.
var durableSlots = activitySlots + durableHost.maxConcurrentOrchestratorFunctions
var pythonThreads = pythonThreadCount > 0 ? pythonThreadCount : min(32, durableSlots)

// host.json's functionTimeout (hh:mm:ss) bounds every activity; a step gets that
// less the time its outputs and logs need to upload, so a timed-out step still
// ends Failed with its logs instead of being cut off by the host.
var timeoutParts = split(hostJson.functionTimeout, ':')
var functionTimeoutSeconds = int(timeoutParts[0]) * 3600 + int(timeoutParts[1]) * 60 + int(timeoutParts[2])
var stepTimeoutSeconds = functionTimeoutSeconds - sizing.stepUploadMarginSeconds

// amlite's own settings; the host storage and monitoring settings are added in app/function-app.bicep.
var amliteSettings = {
  AMLITE_TASK_HUB: taskHubName
  AMLITE_AUTH: 'entra'
  AMLITE_TENANT_ID: tenantIdValue
  AMLITE_CLIENT_ID: apiClientId
  // Keyless: an account URL, used with DefaultAzureCredential, which picks the
  // user-assigned identity through AZURE_CLIENT_ID.
  AMLITE_STORAGE: storage.outputs.blobEndpoint
  AZURE_CLIENT_ID: identity.properties.clientId
  PYTHON_THREADPOOL_THREAD_COUNT: string(pythonThreads)
  AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions: string(activitySlots)
  AMLITE_STEP_TIMEOUT_SECONDS: string(stepTimeoutSeconds)
  // The app package is mounted read-only; /tmp is the instance's own writable scratch.
  AMLITE_CACHE_DIR: '/tmp/amlite'
  // Flex Consumption runs blob triggers from Event Grid only.
  AMLITE_BLOB_TRIGGER_SOURCE: 'EventGrid'
}
var audienceSettings = empty(apiAudiences) ? {} : { AMLITE_AUDIENCES: apiAudiences }

// ---------------------------------------------------------------- resources

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: !empty(identityName) ? identityName : 'id-amlite-${token}'
  location: location
  tags: tags
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  params: {
    name: stgName
    location: location
    tags: tags
    sku: storageSku
    deploymentContainerName: deploymentContainerName
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: !empty(logAnalyticsName) ? logAnalyticsName : 'log-amlite-${token}'
    applicationInsightsName: !empty(applicationInsightsName) ? applicationInsightsName : 'appi-amlite-${token}'
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.properties.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// Blob events of the account; the postdeploy hook subscribes the data-change trigger's
// webhook to it (the webhook key exists only once the app runs).
module blobEvents 'core/blob-events.bicep' = {
  name: 'blob-events'
  params: {
    name: 'evgt-amlite-${token}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
  }
}

module network 'core/vnet.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    name: !empty(vnetName) ? vnetName : 'vnet-amlite-${token}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
  }
}

module api 'app/function-app.bicep' = {
  name: 'api'
  params: {
    name: appName
    location: location
    tags: tags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    durableAlwaysReadyInstances: durableAlwaysReadyInstances
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    subnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    appSettings: union(amliteSettings, audienceSettings, extraAppSettings)
  }
  // The identity must hold its storage roles before the host first starts.
  dependsOn: [
    rbac
  ]
}

// ---------------------------------------------------------------- outputs
// azd stores these in the environment (azd env get-values).

@description('The function app URL: `endpoint` in the workspace config.json.')
output AMLITE_ENDPOINT string = api.outputs.url

@description('The blob endpoint of the run-state/data account: `storage` in config.json.')
output AMLITE_STORAGE string = storage.outputs.blobEndpoint

@description('Token scope for clients: `scope` in config.json (assumes the default Application ID URI api://<client id>).')
output AMLITE_SCOPE string = 'api://${apiClientId}/.default'

output AMLITE_TENANT_ID string = tenantIdValue
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AMLITE_IDENTITY_CLIENT_ID string = identity.properties.clientId
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name

@description('The Event Grid system topic of the account; the postdeploy hook subscribes the blob trigger to it.')
output AMLITE_BLOB_EVENTS_TOPIC string = blobEvents.outputs.name

@description('The public IP of the NAT gateway, which every outbound call leaves from when vnetEnabled (for allow lists); empty otherwise.')
output AMLITE_OUTBOUND_IP string = vnetEnabled ? network.outputs.outboundIp : ''

// The amlite Function App on a Flex Consumption (FC1) plan: Python 3.11 or 3.12,
// the user-assigned identity for everything (host storage, deployment package,
// telemetry, amlite's own storage access), no keys or connection strings.

param name string
param location string
param tags object = {}

@description('azd deploys the service whose name is in this tag (azure.yaml: services.api).')
param serviceName string = 'api'
param planName string = '${name}-plan'

param identityId string
param identityClientId string

param storageAccountName string
@description('Blob endpoint of the storage account, no trailing slash.')
param storageBlobEndpoint string
param deploymentContainerName string

param applicationInsightsName string

// Only versions every pin in requirements.txt has a wheel for, and that pyproject's
// requires-python admits (tests/infra/test_infra_python_versions.py, tests/unit/test_packaging.py):
// pandas 3 needs 3.11+; Python 3.13 runs on a different worker (azure-functions-runtime,
// azure-functions 2.x) that this app is not tested on. docs/deploy.md: Python versions.
@allowed([
  '3.11'
  '3.12'
])
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100
param durableAlwaysReadyInstances int = 1

@description('Subnet (delegated to Microsoft.App/environments) for VNet integration; empty = none.')
param subnetId string = ''

@description('App settings of the app itself; host storage and monitoring settings are added here.')
param appSettings object = {}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Identity-based host storage: the host derives the blob, queue and table
// endpoints from the account name. Flex sets the worker runtime from
// functionAppConfig, so FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION
// (and FUNCTIONS_WORKER_PROCESS_COUNT) must not be set here.
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
}
var allSettings = union(appSettings, hostSettings)

var durableAlwaysReady = [
  {
    name: 'durable'
    instanceCount: durableAlwaysReadyInstances
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        for setting in items(allSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: durableAlwaysReadyInstances > 0 ? durableAlwaysReady : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

output name string = site.name
@description('https://<default host name>; the API is under /api.')
output url string = 'https://${site.properties.defaultHostName}'

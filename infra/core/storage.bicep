// One storage account for everything: the Functions host (AzureWebJobsStorage,
// Durable task hub queues and tables), the Flex deployment package, and amlite's
// run state (Tables) and data, logs and snapshots (Blobs). Keyless: shared key
// access is off, so every caller uses Entra ID and RBAC.

param name string
param location string
param tags object = {}
param sku string = 'Standard_LRS'

@description('Blob container Flex Consumption deploys the app package to.')
param deploymentContainerName string

@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Containers created up front. amlite also creates them on first use; listing them here makes a fresh account show its layout.')
param dataContainers array = [
  'snapshots'
  'pipelinedata'
  'logs'
  'workspaceblobstore'
]

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: sku
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in dataContainers: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

output name string = account.name
output id string = account.id
@description('Blob endpoint without a trailing slash, e.g. https://<name>.blob.core.windows.net')
output blobEndpoint string = 'https://${account.name}.blob.${environment().suffixes.storage}'

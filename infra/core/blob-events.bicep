// The Event Grid system topic for the storage account's blob events. The
// data-change blob trigger (functions/schedules.py, source EventGrid: the only
// blob trigger source on Flex Consumption) is subscribed to it after each
// deployment by scripts/postdeploy_eventgrid.py, because the subscription's
// webhook carries the app's blobs_extension system key, which exists only once
// the app has started.

param name string
param location string
param tags object = {}
param storageAccountId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = topic.name
output id string = topic.id

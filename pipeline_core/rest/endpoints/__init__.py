"""Pipeline endpoints over REST: create, list, get, versions, default version, enable, disable."""

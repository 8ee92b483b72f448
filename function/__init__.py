"""function-capi-vip: VIPs for Cluster API clusters, allocated from IPAM pools."""

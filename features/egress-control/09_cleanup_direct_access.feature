Feature: Cleanup of the direct access to external services
  The page regenerates the sidecar injector without includeIPRanges, so that pods send
  all outbound traffic to their sidecar again. Like the bypass, this takes effect for
  pods deployed afterwards, so sleep is redeployed.

  Background:
    Given the sleep pod is running with a sidecar

  @doc-cleanup-direct-access @drift
  Scenario: The sidecar injector is regenerated without includeIPRanges
    The page re-renders the injector's configmap from Istio's Helm chart without the
    ranges and applies it.

    Given the sleep sample is redeployed with the sidecar intercepting only the cluster's internal IP ranges
    When the page's command is run as written [block 清除对外部服务的直接访问.1]
    Then it prints what the page shows [block 清除对外部服务的直接访问.1]
    When the sleep sample is redeployed with the default interception
    Then the source pod's sidecar intercepts all outbound traffic

  @doc-cleanup-direct-access
  Scenario: Under REGISTRY_ONLY the sidecar blocks httpbin.org again
    Once sleep is redeployed with the default interception, a request to httpbin.org
    goes through the sidecar again: with REGISTRY_ONLY and no ServiceEntry, the sidecar
    answers 502 and logs the request it refused.

    Given the outbound traffic policy mode is set to "REGISTRY_ONLY"
    And the sleep sample is redeployed with the sidecar intercepting only the cluster's internal IP ranges
    When the sleep sample is redeployed with the default interception
    Then the source pod's sidecar intercepts all outbound traffic
    When the source pod runs "curl http://httpbin.org/headers"
    Then the HTTP status code is 502
    And the sidecar's log has a new entry whose authority is "httpbin.org"
    And that entry's response code is "502"
    And that entry's route name is "block_all"

  @doc-cleanup-direct-access
  Scenario: Under ALLOW_ANY the sidecar passes httpbin.org through and logs it
    With ALLOW_ANY, the request still succeeds after the cleanup, but now it passes the
    sidecar: the server sees the proxy's headers and the sidecar logs the request,
    routed to the passthrough cluster.

    Given the outbound traffic policy mode is set to "ALLOW_ANY"
    And the sleep sample is redeployed with the sidecar intercepting only the cluster's internal IP ranges
    When the sleep sample is redeployed with the default interception
    Then the source pod's sidecar intercepts all outbound traffic
    When the source pod runs "curl http://httpbin.org/headers"
    Then the HTTP status code is 200
    And the echoed request headers include a header starting with "X-Envoy-"
    And the sidecar's log has a new entry whose authority is "httpbin.org"
    And that entry's upstream cluster is "PassthroughCluster"
    And that entry's response code is "200"

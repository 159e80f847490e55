Feature: Direct access to external services
  Instead of going through the sidecar, a pod can be told to reach some IP ranges
  directly: the sidecar then intercepts only the ranges listed in includeIPRanges, set
  when the sidecar is injected, so only pods deployed afterwards are affected. Setting
  it to the cluster's own internal ranges sends every external request around the
  sidecar. The page warns that this bypass turns off all of Istio's features for those
  destinations (unlike ALLOW_ANY, whose traffic still passes the sidecar), so it is a
  last resort. The internal ranges depend on the platform the cluster runs on.

  Background:
    Given the sleep pod is running with a sidecar

  @doc-direct-access
  Scenario Outline: The internal IP ranges on <platform>
    The page tells readers on <platform> how to find the cluster's internal IP ranges;
    its example there is <ranges>. This mesh's ranges must be proper CIDRs that could be
    given to includeIPRanges, and must not cover every address. (Two platforms have no
    command on the page, only their ranges.)

    Given the mesh runs on <platform>, where the page's range is "<ranges>" <block>
    When the cluster's internal IP ranges are looked up <block>
    Then they are CIDRs of the same IP family as the page's "<ranges>" <block>

    Examples:
      | platform                                   | ranges                                      | block                                       |
      | IBM Cloud Private                          | 10.0.0.1/24                                 | [block ibm-cloud-private.1]                 |
      | IBM Cloud Kubernetes Service               | 172.30.0.0/16\,172.21.0.0/16\,10.10.10.0/24 |                                             |
      | Google Kubernetes Engine                   | 10.4.0.0/14\,10.7.240.0/20                  | [block google-container-engine-gke.1]      |
      | Azure Container Service                    | 10.244.0.0/16\,10.240.0.0/16                |                                             |
      | Minikube, Docker for Desktop or bare metal | 10.96.0.0/12                                | [block minikube-docker-for-desktop-bare-metal.1] |

  @doc-direct-access @drift
  Scenario: The sidecar injector is regenerated with Helm's -x flag
    The page sets global.proxy.includeIPRanges by re-rendering only the sidecar
    injector's configmap from Istio's Helm chart and applying it; pods deployed
    afterwards intercept only the given ranges.

    When the page's command is run as written [block 配置代理绕过.1]
    Then it prints what the page shows [block 配置代理绕过.1]
    When the sleep sample is redeployed with the sidecar intercepting only the cluster's internal IP ranges
    Then the source pod's sidecar intercepts only the cluster's internal IP ranges

  @doc-direct-access
  Scenario: External requests bypass the sidecar when only internal ranges are intercepted
    After the earlier ServiceEntries and VirtualServices are deleted (the page's
    warning) and sleep is redeployed with the internal ranges, a request to httpbin.org
    goes straight to it: the response shows none of the sidecar's X-Envoy headers and
    the sidecar logs nothing for it. The bypass works under either mode; the mesh is
    put in REGISTRY_ONLY first, with no ServiceEntry for httpbin.org, because a blocked
    mesh letting the request through proves the sidecar was really bypassed.

    Given no ServiceEntry is left
    And no VirtualService is left
    And the outbound traffic policy mode is set to "REGISTRY_ONLY"
    When the sleep sample is redeployed with the sidecar intercepting only the cluster's internal IP ranges
    And SOURCE_POD is set to the pod labelled "app=sleep" [block 访问外部服务.1, command 1]
    And the source pod runs "curl http://httpbin.org/headers" [block 访问外部服务.1, command 2]
    Then the HTTP status code is 200
    And the echoed request headers include "Host: httpbin.org" [block 访问外部服务.1, command 2]
    And the echoed request headers include no header starting with "X-Envoy-" [block 访问外部服务.1, command 2]
    And the sidecar's log has no new entry for "httpbin.org"

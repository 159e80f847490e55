Feature: Before you begin
  The task needs a mesh with Istio installed and the sleep sample running in it: the
  sleep pod is the client every later section sends its requests from. The page offers
  two ways to get a sidecar into that pod, automatic injection or istioctl kube-inject,
  adds that any pod able to run curl would do, and stores the pod's name in SOURCE_POD.

  @doc-before-you-begin
  Scenario Outline: The sleep pod runs with a sidecar after <injection> injection
    With automatic injection enabled, applying samples/sleep/sleep.yaml is enough; without
    it, the page pipes the same manifest through istioctl kube-inject first. Either way the
    pod must come up ready, with the istio-proxy sidecar beside the sleep container and
    intercepting all of the pod's outbound traffic.

    When the sleep sample is deployed with <injection> sidecar injection [block <block>]
    Then the source pod is ready
    And the source pod runs the containers "sleep" and "istio-proxy"
    And the source pod's sidecar came from <injection> injection
    And the source pod's sidecar intercepts all outbound traffic

    Examples:
      | injection | block      |
      | automatic | 开始之前.1 |
      | manual    | 开始之前.2 |

  @doc-before-you-begin
  Scenario: SOURCE_POD names the sleep pod
    The page finds the sleep pod by its label app=sleep and exports its name as
    SOURCE_POD; every later command runs curl in that pod's sleep container.

    Given the sleep sample is deployed with automatic sidecar injection [block 开始之前.1]
    When SOURCE_POD is set to the pod labelled "app=sleep" [block 开始之前.3]
    Then SOURCE_POD names the ready pod that runs "sleep" and "istio-proxy"

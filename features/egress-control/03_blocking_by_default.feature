Feature: Change to the blocking-by-default policy
  To show controlled access to external services, the page switches the mesh from
  ALLOW_ANY to REGISTRY_ONLY. (It also notes that services reachable under ALLOW_ANY can
  be given controlled access one by one first, and the mode switched once all are
  configured.) After the switch, requests to hosts the mesh does not know are blocked;
  the change can take a while to apply, so the page says to wait and try again.

  Background:
    Given the sleep pod is running with a sidecar

  @doc-blocking-by-default
  Scenario: The mode can be switched to REGISTRY_ONLY
    The page edits the mesh-wide setting; afterwards the mesh reports the new mode.

    When the outbound traffic policy mode is set to "REGISTRY_ONLY" [block 修改为默认阻止策略.1]
    Then the outbound traffic policy mode is "REGISTRY_ONLY"

  @doc-blocking-by-default @drift
  Scenario: The page's sed edit of the istio configmap switches the mode
    The page switches modes by replacing the "mode: ALLOW_ANY" line of the istio
    configmap in istio-system with sed and kubectl replace.

    When the page's command is run as written [block 修改为默认阻止策略.1]
    Then eventually the outbound traffic policy mode is "REGISTRY_ONLY"

  @doc-blocking-by-default
  Scenario Outline: An HTTPS request to <host>, not registered, is blocked under REGISTRY_ONLY
    The same HTTPS requests that succeeded under ALLOW_ANY now fail during the TLS
    handshake: kubectl reports that the command terminated with curl's exit code 35.
    Cached configuration may let a request through for a short while, so the check is
    retried for up to the propagation timeout, as the page advises.

    Given the outbound traffic policy mode is set to "REGISTRY_ONLY" [block 修改为默认阻止策略.1]
    When the source pod runs "curl -I https://<host>" [block 修改为默认阻止策略.2, command <n>]
    Then eventually the command exits with code 35 [block 修改为默认阻止策略.2, command <n>]
    And the response has no status line [block 修改为默认阻止策略.2, command <n>]

    Examples:
      | host            | n |
      | www.google.com  | 1 |
      | edition.cnn.com | 2 |

  @doc-blocking-by-default
  Scenario: Plain HTTP to an unregistered host is answered 502 by the sidecar
    The page's definition of REGISTRY_ONLY blocks any host without an HTTP service or
    ServiceEntry. Over plain HTTP the sidecar itself answers such a request, with
    502 Bad Gateway (this is the state the next section starts from).

    Given the outbound traffic policy mode is set to "REGISTRY_ONLY" [block 修改为默认阻止策略.1]
    When the source pod runs "curl http://httpbin.org/headers"
    Then eventually the HTTP status code is 502

Feature: Cleanup of the controlled access to external services
  The page removes what the controlled-access sections created: both ServiceEntries,
  and the VirtualService if it is there. The mesh stays in REGISTRY_ONLY mode, so the
  hosts those resources opened are blocked again.

  Background:
    Given the sleep pod is running with a sidecar
    And the outbound traffic policy mode is set to "REGISTRY_ONLY" [block 修改为默认阻止策略.1]
    And the ServiceEntry "httpbin-ext" is applied [block 访问外部-http-服务.1]:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata:
        name: httpbin-ext
      spec:
        hosts:
        - httpbin.org
        ports:
        - number: 80
          name: http
          protocol: HTTP
        resolution: DNS
        location: MESH_EXTERNAL
      """
    And the ServiceEntry "google" is applied [block 配置外部-https-服务.1]:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata:
        name: google
      spec:
        hosts:
        - www.google.com
        ports:
        - number: 443
          name: https
          protocol: HTTPS
        resolution: DNS
        location: MESH_EXTERNAL
      """

  @doc-cleanup-controlled-access
  Scenario: The page's delete commands remove the ServiceEntries and the VirtualService
    One command deletes both ServiceEntries by name; the VirtualService is deleted with
    --ignore-not-found, since a reader may have skipped the section that created it.

    Given the VirtualService "httpbin-ext" is applied [block 管理外部服务的流量.2]:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: VirtualService
      metadata:
        name: httpbin-ext
      spec:
        hosts:
          - httpbin.org
        http:
        - timeout: 3s
          route:
            - destination:
                host: httpbin.org
              weight: 100
      """
    When "kubectl delete serviceentry httpbin-ext google" is run [block 清除对外部服务的受控访问.1, command 1]
    And "kubectl delete virtualservice httpbin-ext --ignore-not-found=true" is run [block 清除对外部服务的受控访问.1, command 2]
    Then no ServiceEntry is left
    And no VirtualService is left

  @doc-cleanup-controlled-access
  Scenario: The VirtualService delete succeeds when there is none
    A reader who skipped the traffic-management section has no VirtualService; the
    page's command still succeeds thanks to --ignore-not-found.

    When "kubectl delete serviceentry httpbin-ext google" is run [block 清除对外部服务的受控访问.1, command 1]
    And "kubectl delete virtualservice httpbin-ext --ignore-not-found=true" is run [block 清除对外部服务的受控访问.1, command 2]
    Then no ServiceEntry is left
    And no VirtualService is left

  @doc-cleanup-controlled-access
  Scenario: After the cleanup the external hosts are blocked again
    With the ServiceEntries gone and the mode still REGISTRY_ONLY, HTTPS to
    www.google.com fails in the TLS handshake again and plain HTTP to httpbin.org is
    answered 502 by the sidecar.

    When "kubectl delete serviceentry httpbin-ext google" is run [block 清除对外部服务的受控访问.1, command 1]
    And "kubectl delete virtualservice httpbin-ext --ignore-not-found=true" is run [block 清除对外部服务的受控访问.1, command 2]
    And the source pod runs "curl -I https://www.google.com"
    Then eventually the command exits with code 35
    When the source pod runs "curl http://httpbin.org/headers"
    Then eventually the HTTP status code is 502

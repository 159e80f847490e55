Feature: Access an external HTTPS service
  A second ServiceEntry declares www.google.com on port 443 with protocol HTTPS. The
  sidecar cannot read inside TLS, so it routes and logs such traffic by the server name
  the client sends (SNI) and counts bytes; method, path and response code stay
  encrypted and unseen. Hosts that remain undeclared stay blocked.

  Background:
    Given the sleep pod is running with a sidecar
    And the outbound traffic policy mode is set to "REGISTRY_ONLY" [block 修改为默认阻止策略.1]
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

  @doc-https-service-entry
  Scenario: The ServiceEntry lets the pod reach www.google.com over HTTPS
    The HTTPS request that was blocked under REGISTRY_ONLY succeeds again.

    When the source pod runs "curl -I https://www.google.com" [block 配置外部-https-服务.2]
    Then the command exits with code 0 [block 配置外部-https-服务.2]
    And the response status line is "HTTP/2 200" [block 配置外部-https-服务.2]

  @doc-https-service-entry
  Scenario: The sidecar logs the HTTPS connection by its server name
    The sidecar's log gets a TCP entry for the connection: the outbound cluster of the
    ServiceEntry and the requested server name www.google.com, but no HTTP method,
    since HTTPS hides it from the proxy.

    When the source pod runs "curl -I https://www.google.com" [block 配置外部-https-服务.2]
    Then the sidecar's log has a new entry whose upstream cluster is "outbound|443||www.google.com" [block 配置外部-https-服务.3]:
      """
      [2019-01-24T12:48:54.977Z] "- - -" 0 - 601 17766 1289 - "-" "-" "-" "-" "172.217.161.36:443" outbound|443||www.google.com 172.30.109.82:59480 172.217.161.36:443 172.30.109.82:59478 www.google.com
      """
    And that entry's requested server name is "www.google.com" [block 配置外部-https-服务.3]
    And that entry's method is "-" [block 配置外部-https-服务.3]

  @doc-https-service-entry
  Scenario: A host without a ServiceEntry stays blocked
    Declaring www.google.com opens that host only: edition.cnn.com, which has no
    ServiceEntry, is still refused during the TLS handshake.

    When the source pod runs "curl -I https://edition.cnn.com"
    Then the command exits with code 35
    And the response has no status line

  @doc-https-service-entry @drift
  Scenario: Mixer's telemetry log records the HTTPS connection
    The page reads Mixer's telemetry log for the connection and points out
    requestedServerName equal to www.google.com, with the bytes sent and received.

    When the page's command is run as written [block 配置外部-https-服务.4]
    Then it prints what the page shows [block 配置外部-https-服务.4]

Feature: Cleanup
  The page ends by removing the sleep sample it deployed in "Before you begin".

  @doc-cleanup
  Scenario: Deleting the sleep sample removes the source pod
    Deleting the manifest removes the pod and its sidecar; nothing labelled app=sleep
    remains to send requests from.

    Given the sleep pod is running with a sidecar
    When the sleep sample is deleted [block 清理.1]
    Then no pod is labelled "app=sleep"

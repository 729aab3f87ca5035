import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.temporal.internal.testservice.GRPCServerHelper;
import io.temporal.internal.testservice.TestServicesStarter;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Temporal's Java test server, listening on 127.0.0.1 only. Its own main
 * (io.temporal.testserver.TestServer) binds the port on every interface and has no option to
 * choose the address; this builds the same services and health checks and serves them on
 * loopback. Same command line as TestServer: {@code <port> [--enable-time-skipping]}, which is how
 * @temporalio/testing starts it (scripts/setup.sh compiles this and writes the wrapper
 * .tools/bin/temporal-test-server).
 */
public final class LoopbackTestServer {
  private LoopbackTestServer() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args.length > 2 || (args.length == 2 && !args[1].equalsIgnoreCase("--enable-time-skipping"))) {
      System.err.println("Usage: temporal-test-server <port> [--enable-time-skipping]");
      System.exit(2);
    }
    int port = Integer.parseInt(args[0]);
    // As in TestServer: time skipping starts locked unless the flag says otherwise; the SDK unlocks it.
    boolean lockTimeSkipping = args.length < 2;

    TestServicesStarter services = new TestServicesStarter(lockTimeSkipping, 0);
    NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port), InsecureServerCredentials.create());
    GRPCServerHelper.registerServicesAndHealthChecks(services.getServices(), builder);
    Server server = builder.build().start();

    // A belt to the braces: if a later gRPC ever widened the bind, stop rather than serve the network.
    for (SocketAddress address : server.getListenSockets()) {
      if (!(address instanceof InetSocketAddress) || !((InetSocketAddress) address).getAddress().isLoopbackAddress()) {
        System.err.println("temporal-test-server: listening on " + address + ", not on loopback only; stopping");
        server.shutdownNow();
        System.exit(1);
      }
    }

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdown();
      services.close();
    }));
    server.awaitTermination();
  }
}

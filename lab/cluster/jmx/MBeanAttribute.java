// Reads or sets one attribute of a Cassandra node's MBean over its local JMX port, as an
// operator's JMX console would. The lab uses it for what Cassandra really does when a
// setting changes at runtime:
//   - org.apache.cassandra.net:type=FailureDetector PhiConvictThreshold: peers with a
//     high threshold never convict a node whose inbound internode traffic is dropped, so
//     they keep seeing it UP while it sees them DOWN (T327954);
//   - org.apache.cassandra.db:type=Guardrails DataDiskUsageMaxDiskSize: the disk size the
//     disk usage guardrail counts from; below what the node holds, its disk is FULL.
// A value is parsed as the attribute's own type (Double, Integer, Long or String); an
// empty one sets null. Prints the value after the change, one line per node. Several
// nodes in one run (PORT,PORT...): each java launch compiles this file, seconds on a
// busy machine, and the lab's caller waits for it.
// Run as a single-file program: java MBeanAttribute.java PORT[,PORT...] MBEAN ATTRIBUTE [VALUE]
import javax.management.Attribute;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class MBeanAttribute {
    public static void main(String[] args) throws Exception {
        ObjectName bean = new ObjectName(args[1]);
        String name = args[2];
        for (String port : args[0].split(",")) {
            String url = "service:jmx:rmi:///jndi/rmi://127.0.0.1:" + port + "/jmxrmi";
            try (JMXConnector connector = JMXConnectorFactory.connect(new JMXServiceURL(url))) {
                MBeanServerConnection server = connector.getMBeanServerConnection();
                if (args.length > 3) server.setAttribute(bean, new Attribute(name, parse(server.getAttribute(bean, name), args[3])));
                System.out.println(server.getAttribute(bean, name));
            }
        }
    }

    private static Object parse(Object current, String value) {
        if (value.isEmpty()) return null;
        if (current instanceof Double) return Double.parseDouble(value);
        if (current instanceof Integer) return Integer.parseInt(value);
        if (current instanceof Long) return Long.parseLong(value);
        return value;
    }
}

// Reads or sets a Cassandra node's failure detector threshold over its local JMX port.
// Used by the lab to reproduce T327954: peers with a high PhiConvictThreshold never
// convict a node whose inbound internode traffic is dropped, so they keep seeing it UP
// while it sees them DOWN. Run as a single-file program: java FailureDetector.java PORT [PHI]
import javax.management.Attribute;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class FailureDetector {
    public static void main(String[] args) throws Exception {
        String url = "service:jmx:rmi:///jndi/rmi://127.0.0.1:" + args[0] + "/jmxrmi";
        try (JMXConnector connector = JMXConnectorFactory.connect(new JMXServiceURL(url))) {
            MBeanServerConnection server = connector.getMBeanServerConnection();
            ObjectName detector = new ObjectName("org.apache.cassandra.net:type=FailureDetector");
            if (args.length > 1) server.setAttribute(detector, new Attribute("PhiConvictThreshold", Double.parseDouble(args[1])));
            System.out.println(server.getAttribute(detector, "PhiConvictThreshold"));
        }
    }
}
